// The post-event review: the server's report (GET …/report) as figures,
// tables and an arrivals chart, the broadcasts and tasks (review_floor.js),
// and the CSV exports of the logs.

import { language, t } from "../../shared/i18n.js";
import { clear, download, errorText, h, toast } from "./dom.js";
import { categoryLabel } from "../../shared/codes.js";
import { formatInZone, offsetName } from "../../shared/time.js";
import { evacuationsCard } from "./review_evacuations.js";
import { broadcastsCard, tasksCard } from "./review_floor.js";

function figure(labelKey, value, cls = "") {
  return h("div", { class: `figure ${cls}` }, h("strong", {}, value == null ? "—" : Number(value).toLocaleString()), h("span", {}, t(labelKey)));
}

function table(headKeys, rows) {
  return h("table", { class: "table" },
    h("thead", {}, h("tr", {}, headKeys.map((k) => h("th", {}, t(k))))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headKeys.length, class: "empty muted" }, t("review.none")))));
}

/** Arrivals per 15 minutes as bars; the busiest one marked. */
function arrivalsChart(series, tz) {
  if (!series.length) return h("p", { class: "muted" }, t("review.no_arrivals"));
  const width = 1000;
  const height = 160;
  const top = Math.max(...series.map((s) => s.arrivals), 1);
  const bar = width / series.length;
  const svg = h("svg", { class: "arrivals", viewBox: `0 0 ${width} ${height + 22}`, role: "img", "aria-label": t("review.arrivals") });
  series.forEach((s, i) => {
    const hgt = Math.max(1, (s.arrivals / top) * height);
    svg.append(h("rect", { x: i * bar + 1, y: height - hgt, width: Math.max(1, bar - 2), height: hgt, class: s.arrivals === top ? "peak" : "" },
      h("title", {}, `${formatInZone(s.from, tz, language())}: ${s.arrivals}`)));
  });
  const step = Math.max(1, Math.ceil(series.length / 8));
  series.forEach((s, i) => {
    if (i % step === 0) {
      const label = new Date(s.from).toLocaleTimeString(language() === "zh" ? "zh-CN" : "en-GB", { timeZone: tz, hour: "2-digit", minute: "2-digit" });
      svg.append(h("text", { x: i * bar + 2, y: height + 16, class: "tick" }, label));
    }
  });
  return svg;
}

function minutes(value) {
  return value == null ? "—" : t("review.minutes", { n: Math.round(value * 10) / 10 });
}

export async function showReview(view) {
  const { api, event } = view;
  const base = `/api/v1/events/${event.id}`;
  const [r, evacuations] = await Promise.all([api.get(`${base}/report`, { timeoutMs: 120000 }), evacuationsCard(api, event)]);
  if (view.stale()) return;
  const tz = event.timezone;
  const exportButton = (name) => h("button", {
    type: "button",
    onclick: async () => {
      try {
        download(await api.get(`${base}/exports/${name}.csv?lang=${language()}`, { timeoutMs: 300000 }), `${name}-${event.id}.csv`);
      } catch (err) {
        toast(errorText(err), "bad");
      }
    },
  }, t(`review.export_${name}`));
  const busiest = r.scans.busiest_15_minutes;
  clear(view.main,
    h("div", { class: "page-head" }, h("h1", {}, t("nav.review")), h("p", { class: "muted" }, t("review.help")),
      h("p", { class: "muted", id: "review-zone" }, t("time.in_zone", { zone: tz, offset: offsetName(tz, event.starts_at) }))),
    h("section", { class: "card", id: "review-figures" },
      h("div", { class: "figures" },
        figure("review.issued", r.tickets.issued),
        figure("review.checked_in", r.tickets.checked_in, "ok"),
        figure("review.no_shows", r.tickets.no_shows),
        figure("review.revoked", r.tickets.revoked),
        figure("review.refused", r.scans.refused, r.scans.refused ? "warn" : ""),
        figure("review.offline", r.scans.offline),
        figure("review.conflicts", r.scans.conflicts, r.scans.conflicts ? "bad" : ""),
        figure("review.incidents", r.incidents.total))),
    h("section", { class: "card" },
      h("h2", {}, t("review.arrivals")),
      busiest ? h("p", { class: "muted" }, t("review.busiest", { at: formatInZone(busiest.from, tz, language()), n: busiest.arrivals })) : null,
      arrivalsChart(r.scans.arrivals_per_15_minutes, tz)),
    h("div", { class: "grid-2" },
      h("section", { class: "card" }, h("h2", {}, t("review.zones")),
        table(["zone.name", "zone.capacity", "review.peak", "review.peak_at"], r.zones.map((z) => h("tr", {},
          h("td", {}, z.name), h("td", {}, z.capacity ?? t("zone.no_limit")), h("td", {}, z.peak_inside), h("td", { class: "muted" }, formatInZone(z.peak_at, tz, language())))))),
      h("section", { class: "card" }, h("h2", {}, t("review.gates")),
        table(["gate.name", "review.in", "review.out"], r.gates.map((g) => h("tr", {}, h("td", {}, g.name), h("td", {}, g.in), h("td", {}, g.out)))))),
    h("div", { class: "grid-2" },
      h("section", { class: "card", id: "review-types" }, h("h2", {}, t("review.by_type")),
        table(["ticket.type", "review.col_issued", "review.col_checked_in", "review.rate"], r.tickets.by_type.map((row) => h("tr", { dataset: { type: String(row.ticket_type) } },
          h("td", {}, row.name), h("td", { class: "num" }, row.issued.toLocaleString()), h("td", { class: "num" }, row.checked_in.toLocaleString()),
          h("td", { class: "num" }, row.issued ? `${Math.round((100 * row.checked_in) / row.issued)}%` : "—"))))),
      h("section", { class: "card", id: "review-refusals" }, h("h2", {}, t("review.refusals")),
        table(["review.reason", "review.count"], Object.entries(r.scans.refused_by_reason || {}).map(([reason, n]) => h("tr", { dataset: { reason } },
          h("td", {}, t(`reason.${reason}`)), h("td", { class: "num" }, Number(n).toLocaleString())))))),
    h("div", { class: "grid-2" },
      h("section", { class: "card" }, h("h2", {}, t("review.incidents")),
        h("p", {}, t("review.incident_line", { unresolved: r.incidents.unresolved, escalated: r.incidents.escalated }),
          " · ", t("review.ack"), " ", minutes(r.incidents.median_minutes_to_acknowledge),
          " · ", t("review.resolve"), " ", minutes(r.incidents.median_minutes_to_resolve)),
        table(["review.category", "review.count", "review.ack", "review.resolve"], Object.entries(r.incidents.by_category).map(([c, n]) => {
          const times = (r.incidents.times_by_category || {})[c] || {};
          return h("tr", { dataset: { category: c } }, h("td", {}, categoryLabel(c, event)), h("td", {}, n),
            h("td", {}, minutes(times.median_minutes_to_acknowledge)), h("td", {}, minutes(times.median_minutes_to_resolve)));
        }))),
      h("section", { class: "card" }, h("h2", {}, t("nav.stock")),
        table(["stock.name", "stock.location", "review.handed_out", "review.on_hand"], r.stock.map((s) => h("tr", {},
          h("td", {}, s.name), h("td", {}, s.location), h("td", {}, `${s.issued} ${s.unit}`), h("td", {}, `${s.on_hand} ${s.unit}`)))))),
    h("div", { class: "grid-2" }, broadcastsCard(r.broadcasts, tz), tasksCard(r.tasks)),
    evacuations,
    h("section", { class: "card", id: "exports" }, h("h2", {}, t("review.exports")),
      h("div", { class: "buttons" }, ["checkins", "incidents", "stock", "tasks", "broadcasts"].map(exportButton)),
      commandExportsBox(view)));
}

/**
 * The organiser's leave for the command centre to download these logs too:
 * they name people, so command gets 403 export_not_allowed without it
 * (the event option command_exports; server/features/rights.py).
 */
function commandExportsBox(view) {
  const { api, event } = view;
  const box = h("input", {
    type: "checkbox",
    id: "command-exports",
    checked: Boolean(event.options && event.options.command_exports === true),
    onchange: async () => {
      try {
        await api.patch(`/api/v1/events/${event.id}`, { options: { ...(event.options || {}), command_exports: box.checked } });
        toast(t("saved"));
        view.reload();
      } catch (err) {
        box.checked = !box.checked;
        toast(errorText(err), "bad");
      }
    },
  });
  return h("p", {}, h("label", { class: "check" }, box, t("review.command_exports")));
}
