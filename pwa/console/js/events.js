// Events: the list, creating one, and its overview (edit the name, dates
// and time zone; a set-up checklist; links to the command centre and the
// post-event review).

import { PageError } from "../../shared/codes.js";
import { language, t } from "../../shared/i18n.js";
import { clear, field, h, onSubmit, toast } from "./dom.js";
import { COMMON_ZONES, formatInZone, isValidZone, isoToLocal, localToIso } from "../../shared/time.js";

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
    h("li", {}, h("a", { href: `/command/#event=${event.id}`, target: "_blank", rel: "noopener", id: "link-command" }, t("link.command"))),
    h("li", {}, h("a", { href: "/app/", target: "_blank", rel: "noopener" }, t("link.app"))),
    h("li", {}, h("a", { href: `#event=${event.id}&tab=review`, id: "link-review" }, t("link.report"))));
  clear(view.main,
    h("div", { class: "page-head" }, h("h1", {}, event.name),
      h("p", { class: "muted" }, `${formatInZone(event.starts_at, event.timezone, language())} – ${formatInZone(event.ends_at, event.timezone, language())} · ${event.timezone}`)),
    h("div", { class: "grid-2" },
      h("section", { class: "card" }, h("h2", {}, t("check.title")), checklist, h("h2", {}, t("link.title")), links),
      h("section", { class: "card" }, h("h2", {}, t("event.edit")), form)));
}
