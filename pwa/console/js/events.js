// Events: the list, creating one, and its overview (edit the name, dates
// and time zone; a set-up checklist; links to the command centre and the
// post-event review).

import { PageError, errorText } from "../../shared/codes.js";
import { language, t } from "../../shared/i18n.js";
import { clear, field, h, onSubmit, toast } from "./dom.js";
import { COMMON_ZONES, formatInZone, isValidZone, isoToLocal, localToIso, offsetName, spanInZone } from "../../shared/time.js";

export const DEFAULT_TIMEZONE = "Asia/Shanghai";

export async function showEventList(view) {
  const { events } = await view.api.get("/api/v1/events");
  if (view.stale()) return;
  const list = events.length
    ? h("table", { class: "table", id: "event-list" },
      h("thead", {}, h("tr", {}, ["event.name", "event.starts", "event.ends", "event.timezone"].map((k) => h("th", {}, t(k))), h("th"))),
      h("tbody", {}, events.map((e) => h("tr", { dataset: { event: String(e.id) } },
        h("td", {}, h("a", { href: `#event=${e.id}` }, e.name)),
        h("td", {}, formatInZone(e.starts_at, e.timezone, language())),
        h("td", {}, formatInZone(e.ends_at, e.timezone, language())),
        h("td", { class: "muted" }, e.timezone),
        h("td", { class: "actions" }, h("button", { type: "button", onclick: () => view.go({ event: e.id }) }, t("action.open")))))))
    : h("p", { class: "empty muted" }, t("event.none"));
  const form = eventForm(null, async (body) => {
    const created = await view.api.post("/api/v1/events", body);
    toast(t("event.created", { name: created.name }));
    view.go({ event: created.id, tab: "venue" });
  });
  form.id = "event-create";
  clear(view.main,
    h("div", { class: "page-head" }, h("h1", {}, t("nav.events"))),
    h("div", { class: "grid-2" },
      h("section", { class: "card" }, h("h2", {}, t("event.list")), list),
      h("section", { class: "card" }, h("h2", {}, t("event.create")), form)));
}

function tomorrowAt(hour) {
  const d = new Date(Date.now() + 86400000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(hour)}:00`;
}

/** The create/edit form; `save` gets the API body. Times are read in the chosen zone. */
export function eventForm(event, save) {
  const tz = event ? event.timezone : DEFAULT_TIMEZONE;
  const zoneInput = h("input", { name: "timezone", value: tz, list: "tz-list", required: true, autocomplete: "off" });
  const form = h("form", { class: "form event-form" },
    field("event.name", h("input", { name: "name", required: true, maxlength: 200, value: event ? event.name : "" })),
    h("div", { class: "row" },
      field("event.starts", h("input", { type: "datetime-local", name: "starts_at", required: true, value: event ? isoToLocal(event.starts_at, tz) : tomorrowAt(9) })),
      field("event.ends", h("input", { type: "datetime-local", name: "ends_at", required: true, value: event ? isoToLocal(event.ends_at, tz) : tomorrowAt(18) }))),
    field("event.timezone", zoneInput, t("event.timezone_hint")),
    field("event.location", h("input", { name: "location", maxlength: 300, value: event ? event.location || "" : "" })),
    field("event.language", h("select", { name: "language" },
      ["zh", "en"].map((l) => h("option", { value: l, selected: (event ? event.language : language()) === l }, l === "zh" ? "中文" : "English"))),
    t("event.language_hint")),
    h("datalist", { id: "tz-list" }, COMMON_ZONES.map((z) => h("option", { value: z }))),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, t(event ? "action.save" : "event.create"))));
  onSubmit(form, async (data) => {
    const zone = String(data.get("timezone")).trim();
    if (!isValidZone(zone)) {
      throw new PageError(t("event.bad_timezone", { zone }), "timezone");
    }
    await save({
      ...(event ? {} : { default_ticket_type: t("type.standard") }),
      name: String(data.get("name")).trim(),
      starts_at: localToIso(String(data.get("starts_at")), zone),
      ends_at: localToIso(String(data.get("ends_at")), zone),
      timezone: zone,
      location: String(data.get("location") || "").trim(),
      language: String(data.get("language") || "zh"),
    });
  });
  return form;
}

async function count(api, path, key) {
  try {
    const data = await api.get(path);
    return (data[key] || []).length;
  } catch {
    return null;
  }
}

export async function showOverview(view) {
  const { api, event } = view;
  const base = `/api/v1/events/${event.id}`;
  const [zones, gates, types, tickets, devices] = await Promise.all([
    count(api, `${base}/zones`, "zones"),
    count(api, `${base}/gates`, "gates"),
    count(api, `${base}/ticket-types`, "ticket_types"),
    count(api, `${base}/tickets?limit=500`, "tickets"),
    count(api, `${base}/devices`, "devices"),
  ]);
  if (view.stale()) return;
  const form = eventForm(event, async (body) => {
    await api.patch(base, body);
    toast(t("saved"));
    view.reload();
  });
  form.id = "event-edit";
  const step = (done, key, tab, n) => h("li", { class: done ? "done" : "todo" },
    h("span", { class: "tick", "aria-hidden": "true" }, done ? "✓" : "○"),
    h("a", { href: `#event=${event.id}&tab=${tab}` }, t(key)),
    n == null ? null : h("span", { class: "muted" }, ` · ${n >= 500 && key === "check.tickets" ? "500+" : n}`));
  const checklist = h("ol", { class: "checklist", id: "checklist" },
    step(zones > 0, "check.zones", "venue", zones),
    step(gates > 0, "check.gates", "venue", gates),
    step(types > 0, "check.types", "venue", types),
    step(tickets > 0, "check.tickets", "tickets", tickets),
    step(devices > 0, "check.phones", "phones", devices));
  const links = h("ul", { class: "links" },
    h("li", {}, h("a", { href: `/command/#event=${event.id}`, target: "_blank", rel: "noopener", id: "link-command", onclick: (e) => { e.preventDefault(); openCommandScreen(api, event); } }, t("link.command"))),
    h("li", {}, h("a", { href: "/app/", target: "_blank", rel: "noopener" }, t("link.app"))),
    h("li", {}, h("a", { href: `#event=${event.id}&tab=review`, id: "link-review" }, t("link.report"))));
  const figures = h("div", { class: "figures", id: "checkin-figures" });
  clear(view.main,
    h("div", { class: "page-head" }, h("h1", {}, event.name),
      h("p", { class: "muted", id: "event-span" }, eventSpan(event))),
    h("section", { class: "card", id: "checkins" }, h("h2", {}, t("overview.checkins")), figures),
    h("div", { class: "grid-2" },
      h("section", { class: "card" }, h("h2", {}, t("check.title")), checklist, h("h2", {}, t("link.title")), links),
      h("section", { class: "card" }, h("h2", {}, t("event.edit")), form)));
  await showCheckins(view, figures);
}

/** "2026年12月1日 18:00 – 02:00（次日） · Asia/Shanghai (UTC+08:00)": the event's span on its own clock. */
export function eventSpan(event) {
  const lang = language();
  const { start, end, days } = spanInZone(event.starts_at, event.ends_at, event.timezone, lang);
  return `${start} – ${end}${days === 1 ? t("time.next_day") : ""} · ${event.timezone} (${offsetName(event.timezone, event.starts_at)})`;
}

/** Check-in figures from the headcount, refreshed while the overview is on screen. */
const CHECKINS_EVERY_MS = 10000;

async function showCheckins(view, box) {
  const { api, event } = view;
  const figure = (key, value, id) => h("div", { class: "figure", dataset: { figure: id } },
    h("strong", {}, value == null ? "—" : Number(value).toLocaleString()), h("span", {}, t(key)));
  const load = async () => {
    if (view.stale() || !document.body.contains(box)) return false;
    try {
      const hc = await api.get(`/api/v1/events/${event.id}/headcount`, { timeoutMs: 8000 });
      const expected = hc.expected ?? null;
      clear(box,
        figure("overview.checked_in", hc.checked_in, "checked_in"),
        figure("overview.expected", expected, "expected"),
        figure("overview.rate", null, "rate"),
        figure("overview.inside", hc.inside, "inside"),
        (hc.zones || []).map((z) => h("div", { class: "figure zone", dataset: { figure: `zone-${z.id}` } },
          h("strong", {}, `${Number(z.inside).toLocaleString()}${z.capacity == null ? "" : ` / ${Number(z.capacity).toLocaleString()}`}`),
          h("span", {}, z.name))));
      const rate = box.querySelector("[data-figure=rate] strong");
      rate.textContent = expected ? `${Math.round((100 * hc.checked_in) / expected)}%` : "—";
    } catch (err) {
      clear(box, h("p", { class: "form-error", role: "alert" }, errorText(err)));
    }
    return true;
  };
  if (await load()) {
    const timer = setInterval(async () => { if (!(await load())) clearInterval(timer); }, CHECKINS_EVERY_MS);
  }
}

/**
 * Open the command centre signed in: a single-use pairing code for a
 * command screen, which the new tab redeems for its own command token (the
 * organiser's token never leaves the console, and the screen shows up under
 * paired phones, where it can be unpaired).
 */
export async function openCommandScreen(api, event) {
  const tab = window.open("about:blank", "_blank");
  try {
    const pairing = await api.post(`/api/v1/events/${event.id}/pairing-codes`, { role: "command", device_name: t("link.command_screen") });
    const url = `/command/#pair=${encodeURIComponent(pairing.code)}&event=${event.id}`;
    if (tab) tab.location.href = url;
    else location.href = url;
  } catch (err) {
    if (tab) tab.close();
    toast(errorText(err), "bad");
  }
}
