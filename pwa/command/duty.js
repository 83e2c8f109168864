// Who is on duty where: the staff roster's running shifts, grouped by zone
// (zones in the venue's order, then shifts that named no zone). The roster
// changes at human pace (a shift starts or ends from a phone), so the panel
// reads GET /api/v1/events/{e}/staff every DUTY_POLL_MS instead of holding a
// realtime topic of its own. Team names: pwa/shared/terms.js (team.*).

import { teamName } from "../shared/codes.js";
import { addStrings, t } from "../shared/i18n.js";
import { DUTY_STRINGS } from "./duty_strings.js";
import { h } from "./dom.js";

addStrings(DUTY_STRINGS);

export const DUTY_POLL_MS = 15000;

/**
 * The panel's model, a pure function of the roster and the zones:
 * {onDuty, total, groups: [{zone, name, people: [{id, name, team, supervisor, since}]}]}.
 * A shift in a zone the venue no longer lists keeps its group, named by id.
 */
export function dutyView(staff, zones) {
  const names = new Map((zones || []).map((z) => [z.id, z.name]));
  const order = new Map((zones || []).map((z, i) => [z.id, i]));
  const groups = new Map();
  const members = staff || [];
  for (const member of members) {
    if (!member.on_duty || !member.duty) continue;
    const zone = member.duty.zone ?? null;
    if (!groups.has(zone)) {
      groups.set(zone, { zone, name: zone === null ? null : names.get(zone) || `#${zone}`, people: [] });
    }
    groups.get(zone).people.push({ id: member.id, name: member.name, team: member.team, supervisor: Boolean(member.supervisor), since: member.duty.started_at });
  }
  const last = order.size;
  const rank = (g) => (g.zone === null ? last + 1 : order.get(g.zone) ?? last);
  const sorted = [...groups.values()].sort((a, b) => rank(a) - rank(b));
  for (const group of sorted) group.people.sort((a, b) => a.name.localeCompare(b.name));
  return { onDuty: sorted.reduce((n, g) => n + g.people.length, 0), total: members.length, groups: sorted };
}

export function renderDuty(el, view) {
  const head = h("div", { class: "panel-head" }, h("h2", {}, t("duty.title")),
    view ? h("span", { class: "muted", "data-testid": "duty-count" }, t("duty.count", { n: view.onDuty, total: view.total })) : null);
  if (view === null) {
    el.replaceChildren(head, h("p", { class: "muted empty" }, t("duty.unavailable")));
    return;
  }
  if (!view.groups.length) {
    el.replaceChildren(head, h("p", { class: "muted empty" }, t("duty.nobody")));
    return;
  }
  el.replaceChildren(head, h("ul", { class: "duty" }, view.groups.map((group) =>
    h("li", { class: "duty-zone", "data-duty-zone": group.zone === null ? "none" : String(group.zone) },
      h("div", { class: "duty-zone-head" }, h("strong", {}, group.name ?? t("duty.no_zone")), " ", h("span", { class: "muted" }, String(group.people.length))),
      h("ul", { class: "duty-people" }, group.people.map((p) =>
        h("li", { "data-duty-staff": String(p.id) },
          h("span", { class: "duty-name" }, p.name),
          h("span", { class: "muted" }, ` · ${teamName(p.team)}`),
          p.supervisor ? h("span", { class: "badge" }, t("duty.supervisor")) : null)))))));
}
