// Assembly points on the venue page: where people gather when the alarm
// sounds, which zones send people there, and a note for the map. Each point
// is its own small form (an error shows beside it), like the zones and
// gates above it. A point people were accounted at in an evacuation or a
// drill cannot be removed (409 muster_point_in_use): its report names it.

import { errorText } from "../../shared/codes.js";
import { t } from "../../shared/i18n.js";
import { ask, h, onSubmit, toast } from "./dom.js";

/** The card: one form per point, then an empty one to add a point. */
export function musterPointsCard(api, base, zones, points, refresh) {
  return h("section", { class: "card", id: "muster-points" },
    h("h2", {}, t("muster.title")),
    h("p", { class: "muted" }, t("muster.help")),
    h("div", { class: "rows point-rows" },
      points.map((p) => pointRow(api, base, zones, p, refresh)),
      pointRow(api, base, zones, null, refresh)));
}

function pointRow(api, base, zones, point, refresh) {
  const chosen = new Set(point ? point.zones : []);
  const zoneBoxes = zones.map((z) => h("label", { class: "check" },
    h("input", { type: "checkbox", name: "zones", value: String(z.id), checked: chosen.has(z.id) }), z.name));
  const form = h("form", { class: point ? "item point" : "item point new", dataset: point ? { point: String(point.id) } : {} },
    h("div", { class: "point-main" },
      h("input", { name: "name", required: true, maxlength: 200, value: point ? point.name : "", placeholder: t("muster.name_placeholder"), "aria-label": t("muster.name") }),
      h("input", { name: "map_note", maxlength: 500, value: point ? point.map_note : "", placeholder: t("muster.map_note_placeholder"), "aria-label": t("muster.map_note") }),
      h("div", { class: "row-actions" },
        h("button", { type: "submit", class: point ? "" : "primary" }, t(point ? "action.save" : "action.add")),
        point ? removeButton(api, base, point, refresh) : null)),
    h("div", { class: "type-zones" }, h("span", { class: "muted" }, t("muster.zones")),
      zones.length ? zoneBoxes : h("span", { class: "muted" }, t("muster.no_zones"))));
  onSubmit(form, async (data) => {
    const body = {
      name: String(data.get("name")).trim(),
      map_note: String(data.get("map_note") || "").trim(),
      zones: data.getAll("zones").map(Number),
    };
    if (point) await api.patch(`${base}/muster-points/${point.id}`, body);
    else await api.post(`${base}/muster-points`, body);
    toast(t(point ? "saved" : "muster.added", { name: body.name }));
    refresh();
  });
  return form;
}

function removeButton(api, base, point, refresh) {
  return h("button", {
    type: "button", class: "small danger-outline", dataset: { remove: "point" },
    title: t("action.remove"), "aria-label": t("action.remove"),
    onclick: async () => {
      const answer = await ask({
        title: t("muster.remove_title", { name: point.name }), message: t("muster.remove_help"),
        confirmLabel: t("action.remove"), danger: true,
      });
      if (answer === null) return;
      try {
        await api.delete(`${base}/muster-points/${point.id}`);
        toast(t("muster.removed", { name: point.name }));
        refresh();
      } catch (err) {
        toast(errorText(err), "bad");
      }
    },
  }, "✕");
}
