// The incidents board: open, acknowledged and recently resolved incidents in
// three columns, the escalated and most severe first, with the actions the
// command role takes from here (acknowledge, assign, resolve) and the
// category's emergency plan one click away.

import { categoryLabel, personName, teamName } from "../shared/codes.js";
import { t } from "../shared/i18n.js";
import { formatDuration, h, since } from "./dom.js";

function timing(incident) {
  if (incident.status === "resolved" && incident.resolvedAt && incident.createdAt) {
    return h("span", { class: "timing" }, t("incidents.resolved_after", { time: formatDuration(incident.resolvedAt - incident.createdAt) }));
  }
  if (incident.acknowledgedAt && incident.createdAt) {
    return h("span", { class: "timing" }, t("incidents.ack_after", { time: formatDuration(incident.acknowledgedAt - incident.createdAt) }));
  }
  return since(incident.createdAt, "incidents.waiting");
}

/** Who has it: a person, a team, both, or nobody. */
function assigneeLine(incident) {
  const { assignee, team } = incident;
  const data = { "data-team": team || "" };
  if (assignee && team) return h("span", { class: "assignee", ...data }, t("incidents.assignee_team", { name: personName(assignee), team: teamName(team) }));
  if (assignee) return h("span", { class: "assignee", ...data }, t("incidents.assignee", { name: personName(assignee) }));
  if (team) return h("span", { class: "assignee", ...data }, t("incidents.team_only", { team: teamName(team) }));
  return h("span", { class: "assignee muted", ...data }, t("incidents.unassigned"));
}

function incidentCard(incident, actions) {
  const live = incident.status !== "resolved";
  const classes = ["incident", `sev-${incident.severity.toLowerCase()}`, `status-${incident.status}`];
  if (incident.escalated && live) classes.push("escalated");
  return h(
    "li",
    { class: classes.join(" "), "data-incident": incident.id },
    h(
      "div",
      { class: "incident-head" },
      h("span", { class: "severity" }, incident.severity),
      h("button", { type: "button", class: "incident-title link", "data-action": "detail", onclick: () => actions.detail(incident) }, incident.title),
      incident.escalated && live ? h("span", { class: "badge bad" }, t("incidents.escalated")) : null,
      h("span", { class: "age" }, since(incident.createdAt)),
    ),
    h(
      "div",
      { class: "incident-meta" },
      h("span", { class: "category" }, categoryLabel(incident.category, actions.event())),
      incident.location ? h("span", { class: "location" }, incident.location) : null,
      incident.equipment ? h("span", { class: "equipment" }, incident.equipment) : null,
      incident.reports > 1 ? h("span", {}, t("incidents.reports", { n: incident.reports })) : null,
    ),
    h(
      "div",
      { class: "incident-meta" },
      timing(incident),
      assigneeLine(incident),
    ),
    h(
      "div",
      { class: "incident-actions" },
      incident.status === "open" && actions.allowed() ? h("button", { class: "primary", "data-action": "ack", onclick: () => actions.ack(incident) }, t("incidents.ack")) : null,
      live && actions.allowed() ? h("button", { "data-action": "assign", onclick: () => actions.assign(incident) }, t("incidents.assign")) : null,
      live && actions.allowed() ? h("button", { "data-action": "resolve", onclick: () => actions.resolve(incident) }, t("incidents.resolve")) : null,
      actions.hasPlan(incident) ? h("button", { class: "plan", "data-action": "plan", onclick: () => actions.plan(incident) }, t("incidents.plan")) : null,
    ),
  );
}

function column(status, incidents, actions) {
  return h(
    "section",
    { class: `incident-column column-${status}`, "data-column": status },
    h("h3", {}, t(`incidents.${status}`), h("span", { class: "count" }, String(incidents.length))),
    incidents.length
      ? h("ul", { class: "incident-list" }, incidents.map((incident) => incidentCard(incident, actions)))
      : h("p", { class: "muted empty" }, t("incidents.none")),
  );
}

export function renderIncidents(el, board, actions) {
  el.replaceChildren(
    h("h2", {}, t("incidents.title")),
    h(
      "div",
      { class: "incident-board" },
      column("open", board.open, actions),
      column("acknowledged", board.acknowledged, actions),
      column("resolved", board.resolved, actions),
    ),
  );
}
