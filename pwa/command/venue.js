// The headcount panels: total inside, checked in against expected, each zone
// against its capacity, and every gate with its door devices.

import { t } from "../shared/i18n.js";
import { formatNumber, formatPercent, h, since } from "./dom.js";

export function renderInside(el, headcount) {
  const { inside, checkedIn, expected, notYetArrived } = headcount;
  const fraction = expected ? Math.min(1, checkedIn / expected) : null;
  el.replaceChildren(
    h("h2", {}, t("inside.title")),
    h("div", { class: "inside-total", "data-testid": "inside-total" }, formatNumber(inside)),
    h(
      "div",
      { class: "checked-in" },
      h("span", { class: "label" }, t("inside.checked_in")),
      h("strong", { "data-testid": "checked-in" }, formatNumber(checkedIn)),
      h("span", { class: "muted" }, " / "),
      h("span", { class: "label" }, t("inside.expected")),
      h("strong", { "data-testid": "expected" }, formatNumber(expected)),
    ),
    h("div", { class: "meter" }, h("div", { class: "meter-fill", style: `width:${(fraction ?? 0) * 100}%` })),
    h(
      "div",
      { class: "inside-foot" },
      h("span", { class: "muted" }, notYetArrived === null ? "" : `${t("inside.not_yet")} ${formatNumber(notYetArrived)}`),
      fraction === null ? null : h("span", { class: "percent" }, formatPercent(fraction)),
    ),
  );
}

function zoneRow(zone) {
  const hasCapacity = zone.capacity !== null;
  const fraction = hasCapacity && zone.capacity > 0 ? Math.min(1, zone.inside / zone.capacity) : hasCapacity ? 1 : 0;
  const badge = zone.level === "full" ? t("zones.full") : zone.level === "near" ? t("zones.near") : null;
  return h(
    "li",
    { class: `zone level-${zone.level}`, "data-zone": zone.id },
    h(
      "div",
      { class: "zone-head" },
      h("span", { class: "zone-name" }, zone.name),
      badge ? h("span", { class: "badge" }, badge) : null,
      h(
        "span",
        { class: "zone-count" },
        h("strong", { "data-testid": "zone-inside" }, formatNumber(zone.inside)),
        " / ",
        hasCapacity ? formatNumber(zone.capacity) : t("zones.no_limit"),
      ),
    ),
    h(
      "div",
      { class: "bar" },
      h("div", { class: "bar-fill", style: `width:${fraction * 100}%` }),
      // The soft warning level, marked on the bar so amber is never a surprise.
      hasCapacity ? h("div", { class: "bar-mark", style: `left:${zone.softWarning * 100}%` }) : null,
    ),
  );
}

export function renderZones(el, headcount) {
  const zones = headcount.zones;
  el.replaceChildren(
    h("h2", {}, t("zones.title")),
    zones.length ? h("ul", { class: "zones" }, zones.map(zoneRow)) : h("p", { class: "muted empty" }, t("zones.empty")),
  );
}

function deviceChip(device) {
  return h(
    "li",
    { class: `device ${device.online ? "online" : "offline"}`, "data-device": device.id },
    h("span", { class: "dot", "aria-hidden": "true" }),
    h("span", { class: "device-name" }, device.name),
    h("span", { class: "device-state" }, device.online ? t("gates.online") : t("gates.offline")),
    device.lastSeen ? since(device.lastSeen, "gates.seen") : h("span", { class: "muted" }, t("gates.never")),
    device.backlog ? h("span", { class: "backlog" }, t("gates.backlog", { n: formatNumber(device.backlog) })) : null,
    device.scansPerMinute === null ? null : h("span", { class: "rate" }, t("gates.rate", { n: formatNumber(device.scansPerMinute) })),
  );
}

function gateRow(gate) {
  return h(
    "li",
    { class: `gate${gate.offline ? " offline" : ""}`, "data-gate": gate.id },
    h(
      "div",
      { class: "gate-head" },
      h("span", { class: "gate-name" }, gate.name),
      gate.offline ? h("span", { class: "badge bad" }, t("gates.offline")) : null,
      gate.in === null ? null : h("span", { class: "gate-counts" }, t("gates.in_out", { in: formatNumber(gate.in), out: formatNumber(gate.out) })),
    ),
    gate.devices.length
      ? h("ul", { class: "devices" }, gate.devices.map(deviceChip))
      : h("div", { class: "muted devices-none" }, t("gates.no_devices")),
  );
}

export function renderGates(el, gates) {
  el.replaceChildren(
    h("h2", {}, t("gates.title")),
    gates.length ? h("ul", { class: "gates" }, gates.map(gateRow)) : h("p", { class: "muted empty" }, t("gates.empty")),
  );
}
