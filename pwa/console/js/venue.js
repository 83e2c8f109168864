// The venue: zones (capacity, "near full" level), gates (from outside or a
// zone into a zone), assembly points (muster_points.js), ticket types (the
// zones they open, re-entry), and the flow of people drawn from them. Each row is its own small form so an
// error shows beside the row that caused it. Removing a part with history
// (scans, tickets, phones) archives it: it leaves the rows and the choices,
// waits in "Archived" with a restore button, and keeps working for what
// already holds it.

import { PageError } from "../../shared/codes.js";
import { t } from "../../shared/i18n.js";
import { errorText } from "../../shared/codes.js";
import { ask, clear, h, onSubmit, toast } from "./dom.js";
import { flowLines, renderFlow } from "./flow.js";
import { musterPointsCard } from "./muster_points.js";
import { isoToLocal, localToIso } from "../../shared/time.js";

export async function showVenue(view) {
  const { api, event } = view;
  const base = `/api/v1/events/${event.id}`;
  const [{ zones: allZones }, { gates: allGates }, { ticket_types: allTypes }, { points }] = await Promise.all([
    api.get(`${base}/zones`), api.get(`${base}/gates`), api.get(`${base}/ticket-types`), api.get(`${base}/muster-points`),
  ]);
  if (view.stale()) return;
  const refresh = () => view.reload();
  const inUse = (list) => list.filter((x) => !x.archived_at);
  const [zones, gates, types] = [inUse(allZones), inUse(allGates), inUse(allTypes)];
  const remover = removeButton(api, base, refresh);
  clear(view.main,
    h("div", { class: "page-head" }, h("h1", {}, t("nav.venue")), h("p", { class: "muted" }, t("venue.help"))),
    flowCard(zones, gates),
    h("div", { class: "grid-2" },
      h("section", { class: "card", id: "zones" }, h("h2", {}, t("zone.title")),
        h("div", { class: "rows zone-rows" },
          h("div", { class: "row-head" }, h("span", {}, t("zone.name")), h("span", {}, t("zone.capacity")), h("span", {}, t("zone.soft_warning")), h("span")),
          zones.map((z) => zoneRow(api, base, z, refresh, remover)),
          zoneRow(api, base, null, refresh))),
      h("section", { class: "card", id: "gates" }, h("h2", {}, t("gate.title")),
        zones.length === 0 ? h("p", { class: "muted" }, t("gate.need_zone")) : h("div", { class: "rows gate-rows" },
          h("div", { class: "row-head" }, h("span", {}, t("gate.name")), h("span", {}, t("gate.from")), h("span", {}, t("gate.to")), h("span")),
          gates.map((g) => gateRow(api, base, zones, g, refresh, remover)),
          gateRow(api, base, zones, null, refresh)))),
    musterPointsCard(api, base, zones, points, refresh),
    h("section", { class: "card", id: "ticket-types" }, h("h2", {}, t("type.title")), h("p", { class: "muted" }, t("type.help")),
      h("div", { class: "rows type-rows" },
        types.map((tt) => typeRow(api, base, event, zones, tt, refresh, remover)),
        typeRow(api, base, event, zones, null, refresh))),
    archivedCard(api, base, allZones, allGates, allTypes, refresh));
}

const PATHS = { zone: "zones", gate: "gates", type: "ticket-types" };

/** A row's remove button: asks, then deletes (or, with history, archives). */
function removeButton(api, base, refresh) {
  return (kind, item) => h("button", {
    type: "button", class: "small danger-outline", dataset: { remove: kind },
    title: t("action.remove"), "aria-label": t("action.remove"),
    onclick: async () => {
      const answer = await ask({
        title: t("venue.remove_title", { name: item.name }), message: t("venue.remove_help"),
        confirmLabel: t("action.remove"), danger: true,
      });
      if (answer === null) return;
      try {
        const done = await api.delete(`${base}/${PATHS[kind]}/${item.id}`);
        toast(t(`venue.${done.outcome}`, { name: item.name }));
        refresh();
      } catch (err) {
        toast(errorText(err), "bad");
      }
    },
  }, "✕");
}

/** Archived zones, gates and ticket types, each with a restore button. */
function archivedCard(api, base, zones, gates, types, refresh) {
  const archived = [
    ...zones.filter((z) => z.archived_at).map((z) => ["zone", z]),
    ...gates.filter((g) => g.archived_at).map((g) => ["gate", g]),
    ...types.filter((tt) => tt.archived_at).map((tt) => ["type", tt]),
  ];
  if (archived.length === 0) return null;
  const restore = async (kind, item) => {
    try {
      await api.patch(`${base}/${PATHS[kind]}/${item.id}`, { archived: false });
      toast(t("venue.restored", { name: item.name }));
      refresh();
    } catch (err) {
      toast(errorText(err), "bad");
    }
  };
  return h("section", { class: "card", id: "archived" },
    h("details", {},
      h("summary", {}, t("venue.archived_title", { n: archived.length })),
      h("p", { class: "muted" }, t("venue.archived_help")),
      h("ul", { class: "archived-list" }, archived.map(([kind, item]) => h("li", { dataset: { archived: `${kind}-${item.id}` } },
        h("span", { class: "pill" }, t(`venue.kind_${kind}`)), " ", item.name, " ",
        h("button", { type: "button", class: "small", onclick: () => restore(kind, item) }, t("venue.restore")))))));
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

function zoneRow(api, base, zone, refresh, remover) {
  const form = h("form", { class: zone ? "item" : "item new", dataset: zone ? { zone: String(zone.id) } : {} },
    h("input", { name: "name", required: true, maxlength: 200, value: zone ? zone.name : "", placeholder: t("zone.name_placeholder"), "aria-label": t("zone.name") }),
    h("input", { name: "capacity", type: "number", min: 0, step: 1, value: zone && zone.capacity != null ? String(zone.capacity) : "", placeholder: t("zone.no_limit"), "aria-label": t("zone.capacity") }),
    h("div", { class: "with-unit" },
      h("input", { name: "soft_warning", type: "number", min: 1, max: 100, step: 1, value: zone ? String(Math.round(zone.soft_warning * 100)) : "", placeholder: "90", "aria-label": t("zone.soft_warning") }),
      h("span", {}, "%")),
    h("div", { class: "row-actions" },
      h("button", { type: "submit", class: zone ? "" : "primary" }, t(zone ? "action.save" : "action.add")),
      zone ? remover("zone", zone) : null));
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

function gateRow(api, base, zones, gate, refresh, remover) {
  const defaultTo = gate ? gate.to_zone : zones[0].id;
  const form = h("form", { class: gate ? "item" : "item new", dataset: gate ? { gate: String(gate.id) } : {} },
    h("input", { name: "name", required: true, maxlength: 200, value: gate ? gate.name : "", placeholder: t("gate.name_placeholder"), "aria-label": t("gate.name") }),
    h("select", { name: "from_zone", "aria-label": t("gate.from") }, zoneOptions(zones, gate ? gate.from_zone : null, true)),
    h("select", { name: "to_zone", "aria-label": t("gate.to") }, zoneOptions(zones, defaultTo, false)),
    h("div", { class: "row-actions" },
      h("button", { type: "submit", class: gate ? "" : "primary" }, t(gate ? "action.save" : "action.add")),
      gate ? remover("gate", gate) : null));
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

function typeRow(api, base, event, zones, type, refresh, remover) {
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
      h("button", { type: "submit", class: type ? "" : "primary" }, t(type ? "action.save" : "action.add")),
      type && !type.is_default ? remover("type", type) : null),
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
