// The venue: zones (capacity, "near full" level), gates (from outside or a
// zone into a zone), ticket types (the zones they open, re-entry), and the
// flow of people drawn from them. Each row is its own small form so an
// error shows beside the row that caused it.

import { PageError } from "../../shared/codes.js";
import { t } from "../../shared/i18n.js";
import { clear, h, onSubmit, toast } from "./dom.js";
import { flowLines, renderFlow } from "./flow.js";
import { isoToLocal, localToIso } from "../../shared/time.js";

export async function showVenue(view) {
  const { api, event } = view;
  const base = `/api/v1/events/${event.id}`;
  const [{ zones }, { gates }, { ticket_types: types }] = await Promise.all([
    api.get(`${base}/zones`), api.get(`${base}/gates`), api.get(`${base}/ticket-types`),
  ]);
  if (view.stale()) return;
  const refresh = () => view.reload();
  clear(view.main,
    h("div", { class: "page-head" }, h("h1", {}, t("nav.venue")), h("p", { class: "muted" }, t("venue.help"))),
    flowCard(zones, gates),
    h("div", { class: "grid-2" },
      h("section", { class: "card", id: "zones" }, h("h2", {}, t("zone.title")),
        h("div", { class: "rows zone-rows" },
          h("div", { class: "row-head" }, h("span", {}, t("zone.name")), h("span", {}, t("zone.capacity")), h("span", {}, t("zone.soft_warning")), h("span")),
          zones.map((z) => zoneRow(api, base, z, refresh)),
          zoneRow(api, base, null, refresh))),
      h("section", { class: "card", id: "gates" }, h("h2", {}, t("gate.title")),
        zones.length === 0 ? h("p", { class: "muted" }, t("gate.need_zone")) : h("div", { class: "rows gate-rows" },
          h("div", { class: "row-head" }, h("span", {}, t("gate.name")), h("span", {}, t("gate.from")), h("span", {}, t("gate.to")), h("span")),
          gates.map((g) => gateRow(api, base, zones, g, refresh)),
          gateRow(api, base, zones, null, refresh)))),
    h("section", { class: "card", id: "ticket-types" }, h("h2", {}, t("type.title")), h("p", { class: "muted" }, t("type.help")),
      h("div", { class: "rows type-rows" },
        types.map((tt) => typeRow(api, base, event, zones, tt, refresh)),
        typeRow(api, base, event, zones, null, refresh))));
}

function flowCard(zones, gates) {
  const labels = {
    title: t("flow.title"),
    outside: t("flow.outside"),
    noLimit: t("zone.no_limit"),
    unreachable: t("flow.unreachable"),
    capacity: (n) => t("flow.capacity", { n: n.toLocaleString() }),
  };
  const lines = flowLines(zones, gates, t("flow.outside"));
  return h("section", { class: "card flow-card", id: "flow" },
    h("h2", {}, t("flow.title")),
    zones.length === 0
      ? h("p", { class: "muted" }, t("flow.empty"))
      : h("div", { class: "flow-scroll" }, renderFlow(zones, gates, labels)),
    lines.length ? h("ul", { class: "flow-lines" }, lines.map((l) => h("li", {}, l))) : null);
}

function numberOrNull(value) {
  const text = String(value ?? "").trim();
  return text === "" ? null : Number(text);
}

function zoneRow(api, base, zone, refresh) {
  const form = h("form", { class: zone ? "item" : "item new", dataset: zone ? { zone: String(zone.id) } : {} },
    h("input", { name: "name", required: true, maxlength: 200, value: zone ? zone.name : "", placeholder: t("zone.name_placeholder"), "aria-label": t("zone.name") }),
    h("input", { name: "capacity", type: "number", min: 0, step: 1, value: zone && zone.capacity != null ? String(zone.capacity) : "", placeholder: t("zone.no_limit"), "aria-label": t("zone.capacity") }),
    h("div", { class: "with-unit" },
      h("input", { name: "soft_warning", type: "number", min: 1, max: 100, step: 1, value: zone ? String(Math.round(zone.soft_warning * 100)) : "", placeholder: "90", "aria-label": t("zone.soft_warning") }),
      h("span", {}, "%")),
    h("button", { type: "submit", class: zone ? "" : "primary" }, t(zone ? "action.save" : "action.add")));
  onSubmit(form, async (data) => {
    const warn = numberOrNull(data.get("soft_warning"));
    const body = { name: String(data.get("name")).trim(), capacity: numberOrNull(data.get("capacity")) };
    if (warn != null) body.soft_warning = warn / 100;
    if (zone) await api.patch(`${base}/zones/${zone.id}`, body);
    else await api.post(`${base}/zones`, body);
    toast(t(zone ? "saved" : "zone.added", { name: body.name }));
    refresh();
  });
  return form;
}

function zoneOptions(zones, selected, withOutside) {
  return [
    withOutside ? h("option", { value: "", selected: selected == null }, t("flow.outside")) : null,
    zones.map((z) => h("option", { value: String(z.id), selected: z.id === selected }, z.name)),
  ];
}

function gateRow(api, base, zones, gate, refresh) {
  const defaultTo = gate ? gate.to_zone : zones[0].id;
  const form = h("form", { class: gate ? "item" : "item new", dataset: gate ? { gate: String(gate.id) } : {} },
    h("input", { name: "name", required: true, maxlength: 200, value: gate ? gate.name : "", placeholder: t("gate.name_placeholder"), "aria-label": t("gate.name") }),
    h("select", { name: "from_zone", "aria-label": t("gate.from") }, zoneOptions(zones, gate ? gate.from_zone : null, true)),
    h("select", { name: "to_zone", "aria-label": t("gate.to") }, zoneOptions(zones, defaultTo, false)),
    h("button", { type: "submit", class: gate ? "" : "primary" }, t(gate ? "action.save" : "action.add")));
  onSubmit(form, async (data) => {
    const from = String(data.get("from_zone"));
    const body = { name: String(data.get("name")).trim(), from_zone: from === "" ? null : Number(from), to_zone: Number(data.get("to_zone")) };
    if (gate) await api.patch(`${base}/gates/${gate.id}`, body);
    else await api.post(`${base}/gates`, body);
    toast(t(gate ? "saved" : "gate.added", { name: body.name }));
    refresh();
  });
  return form;
}

function typeRow(api, base, event, zones, type, refresh) {
  const allZones = !type || type.zones == null;
  const allBox = h("input", { type: "checkbox", name: "all_zones", checked: allZones });
  const zoneBoxes = zones.map((z) => h("label", { class: "check" },
    h("input", { type: "checkbox", name: "zones", value: String(z.id), checked: !allZones && type.zones.includes(z.id), disabled: allZones }), z.name));
  allBox.addEventListener("change", () => {
    for (const label of zoneBoxes) label.querySelector("input").disabled = allBox.checked;
  });
  const tz = event.timezone;
  const form = h("form", { class: type ? "item type" : "item type new", dataset: type ? { type: String(type.id) } : {} },
    h("div", { class: "type-main" },
      h("input", { name: "name", required: true, maxlength: 200, value: type ? type.name : "", placeholder: t("type.name_placeholder"), "aria-label": t("type.name") }),
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "reentry", checked: type ? type.reentry : true }), t("type.reentry")),
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "is_default", checked: type ? type.is_default : false }), t("type.default")),
      h("button", { type: "submit", class: type ? "" : "primary" }, t(type ? "action.save" : "action.add"))),
    h("div", { class: "type-zones" }, h("span", { class: "muted" }, t("type.zones")),
      h("label", { class: "check" }, allBox, t("type.all_zones")), zoneBoxes),
    h("details", { class: "type-validity", open: Boolean(type && (type.valid_from || type.valid_until)) },
      h("summary", {}, t("type.validity"), h("span", { class: "muted" }, ` (${tz})`)),
      h("div", { class: "row" },
        h("label", { class: "field" }, h("span", {}, t("type.valid_from")), h("input", { type: "datetime-local", name: "valid_from", value: type ? isoToLocal(type.valid_from, tz) : "" })),
        h("label", { class: "field" }, h("span", {}, t("type.valid_until")), h("input", { type: "datetime-local", name: "valid_until", value: type ? isoToLocal(type.valid_until, tz) : "" })))));
  onSubmit(form, async (data) => {
    const body = {
      name: String(data.get("name")).trim(),
      zones: data.get("all_zones") ? null : data.getAll("zones").map(Number),
      reentry: Boolean(data.get("reentry")),
      is_default: Boolean(data.get("is_default")),
      valid_from: localToIso(String(data.get("valid_from") || ""), tz),
      valid_until: localToIso(String(data.get("valid_until") || ""), tz),
    };
    if (body.zones && body.zones.length === 0) {
      throw new PageError(t("type.no_zone"), "zones");
    }
    if (type) await api.patch(`${base}/ticket-types/${type.id}`, body);
    else await api.post(`${base}/ticket-types`, body);
    toast(t(type ? "saved" : "type.added", { name: body.name }));
    refresh();
  });
  return form;
}
