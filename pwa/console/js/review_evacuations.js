// The post-event review's evacuations and drills: each one's start and end,
// how many were on the roll and still missing at the all-clear, the time to
// 50 / 90 / 100 % accounted (GET /evacuations/{id}/report), and its roll as
// CSV for the fire service's file. The command centre shows the same report
// when an evacuation ends (pwa/command/evacuation.js).

import { language, t } from "../../shared/i18n.js";
import { formatInZone } from "../../shared/time.js";
import { download, errorText, h, toast } from "./dom.js";

function duration(seconds) {
  if (seconds == null) return t("review.evac.not_reached");
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** The card, its reports read before the page is drawn (an event has a few at most). */
export async function evacuationsCard(api, event) {
  const { evacuations } = await api.get(`/api/v1/events/${event.id}/evacuations`);
  const ended = evacuations.filter((e) => e.ended_at);
  const reports = await Promise.all(ended.map((e) => api.get(`/api/v1/evacuations/${e.id}/report`)));
  const rows = reports.map((r) => h("tr", { dataset: { evacuation: String(r.id) } },
    h("td", {}, t(`review.evac.kind_${r.kind}`)),
    h("td", { class: "muted" }, `${formatInZone(r.started_at, event.timezone, language())} – ${formatInZone(r.ended_at, event.timezone, language())}`),
    h("td", { class: "num" }, Number(r.total).toLocaleString()),
    h("td", { class: `num ${r.missing ? "bad" : ""}` }, Number(r.missing).toLocaleString()),
    ["50", "90", "100"].map((pct) => h("td", { class: "num" }, duration(r.seconds_to[pct]))),
    h("td", {}, h("button", {
      type: "button", class: "small",
      onclick: async () => {
        try {
          download(await api.get(`/api/v1/evacuations/${r.id}/people.csv?lang=${language()}`), `evacuation-${r.id}.csv`);
        } catch (err) {
          toast(errorText(err), "bad");
        }
      },
    }, t("review.evac.csv")))));
  return h("section", { class: "card", id: "review-evacuations" },
    h("h2", {}, t("review.evac.title")),
    h("p", { class: "muted" }, t("review.evac.help")),
    h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["review.evac.kind", "review.evac.when", "review.evac.total", "review.evac.missing"].map((k) => h("th", {}, t(k))),
        ["50", "90", "100"].map((pct) => h("th", {}, t("review.evac.to", { pct }))), h("th"))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 8, class: "empty muted" }, t("review.evac.none"))))));
}
