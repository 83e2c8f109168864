// One incident in full, for the phone and the command centre alike: what,
// where, who, when (in the event's time zone), the description and photos,
// the resolution note, the category's emergency plan, the whole history and
// the comments, with a box to add one. Built as DOM nodes from the API's
// JSON (GET …/incidents/{id}: the incident with `log` and `comments`);
// every string from the server is text, never markup.

import { categoryLabel, errorText, personName, teamName, waitText } from "./codes.js";
import { language, t } from "./i18n.js";
import { renderMarkdown } from "./markdown.js";
import { clockInZone, formatInZone } from "./time.js";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Where an incident is: gate, zone and the reporter's words, named from `names` ({zones, gates}: Map id → name). */
export function placeText(incident, names = {}) {
  const place = incident.location || {};
  const named = (map, id) => (id !== null && id !== undefined && map ? map.get(String(id)) || map.get(id) : null);
  return [named(names.gates, place.gate), named(names.zones, place.zone), place.text].filter(Boolean).join(" · ");
}

/** The note of the latest resolution, or "". */
export function resolutionNote(incident) {
  const log = Array.isArray(incident.log) ? incident.log : [];
  for (let i = log.length - 1; i >= 0; i -= 1) {
    if (log[i].action === "resolved") return log[i].text || "";
    if (log[i].action === "reopened") return "";
  }
  return "";
}

/** The plan's title and steps in the page's language; the other language when that is all there is. */
export function planIn(plan, lang = language()) {
  const other = lang === "zh" ? "en" : "zh";
  const pick = (pair) => (pair && pair[lang] ? [pair[lang], lang] : pair && pair[other] ? [pair[other], other] : ["", lang]);
  const [title] = pick(plan.title);
  const [steps, stepsLang] = pick(plan.steps);
  return { title: title || categoryLabel(plan.category), steps, otherLanguage: stepsLang !== lang };
}

/** What one history entry says: "李娜 接手", "escalated: nobody took it within 2 min". */
export function historyText(entry) {
  const who = personName(entry.actor);
  const data = entry.data || {};
  if (entry.action === "escalated") {
    return t(`history.escalated.${data.level === 2 ? 2 : 1}`, { wait: waitText(data.after_seconds) });
  }
  if (entry.action === "assigned") {
    // A person, a team, or both (server/features/incidents.py act_on_incident's data).
    const person = data.assignee && (data.assignee.id != null || data.assignee.name) ? personName(data.assignee) : "";
    const assignee = [person, data.team ? teamName(data.team) : ""].filter(Boolean).join(" · ");
    return assignee ? t("history.assigned", { who, assignee }) : t("history.unassigned", { who });
  }
  const key = `history.${entry.action}`;
  const text = t(key, { who });
  return text === key ? t("history.other", { who }) : text;
}

function when(iso, timeZone) {
  return iso ? formatInZone(iso, timeZone, language()) : "";
}

function planBlock(plan) {
  const { title, steps, otherLanguage } = planIn(plan);
  return el("section", { class: "incident-plan", dataset: { planCategory: plan.category } },
    el("h4", {}, t("detail.plan"), " · ", title),
    otherLanguage ? el("p", { class: "muted" }, t("detail.plan_other_language")) : null,
    renderMarkdown(steps));
}

/**
 * The detail view. `options`: `timeZone` (the event's), `names` (zones and
 * gates by id), `event` (its category labels), `loadPhoto(url)` → a
 * Promise of an object URL (the page fetches with its token),
 * `onComment(text)` → a Promise (absent: no comment box), `actions`: extra
 * buttons for the page's own actions.
 */
export function incidentDetail(incident, options = {}) {
  const { timeZone = null, names = {}, event = null, loadPhoto = null, onComment = null, actions = [] } = options;
  const place = placeText(incident, names);
  const note = incident.status === "resolved" ? resolutionNote(incident) : "";
  const log = Array.isArray(incident.log) ? incident.log : [];
  const photos = Array.isArray(incident.photos) ? incident.photos : [];
  const facts = [
    [t("field.category"), categoryLabel(incident.category, event)],
    [t("detail.place"), place],
    [t("detail.equipment"), incident.equipment_tag],
    [t("detail.reporter"), personName(incident.reporter)],
    [t("field.assignee"), incident.assignee ? personName(incident.assignee) : incident.team ? "" : t("detail.unassigned")],
    [t("field.assignee_team"), incident.team ? teamName(incident.team) : ""],
    [t("detail.reported_at"), when(incident.created_at, timeZone)],
    [t("detail.acknowledged_at"), when(incident.acknowledged_at, timeZone)],
    [t("detail.resolved_at"), when(incident.resolved_at, timeZone)],
    [t("detail.reports"), incident.reports > 1 ? String(incident.reports) : ""],
  ].filter(([, value]) => value);
  const day = (iso) => (iso ? formatInZone(iso, timeZone, language()).replace(/\s*\d{1,2}:\d{2}$/, "") : "");
  const created = day(incident.created_at);
  // History times as a clock on the day it was reported, in full on a later day.
  const stamp = (iso) => (day(iso) === created ? clockInZone(iso, timeZone, language()) : when(iso, timeZone));
  const main = el("div", { class: "incident-main" },
    el("header", { class: "incident-detail-head" },
      el("span", { class: `badge ${incident.severity}` }, t(`severity.${incident.severity}`)),
      el("h3", { class: "incident-detail-title" }, incident.title),
      el("span", { class: `badge ${incident.status}`, dataset: { status: incident.status } }, t(`incident_status.${incident.status}`)),
      incident.escalation_level > 0 && incident.status !== "resolved" ? el("span", { class: "badge escalated" }, t("detail.escalated")) : null),
    el("dl", { class: "incident-facts" }, facts.map(([label, value]) => [el("dt", {}, label), el("dd", {}, value)])),
    note ? el("section", { class: "incident-resolution" }, el("h4", {}, t("detail.resolution")), el("p", { class: "note" }, note)) : null,
    el("section", { class: "incident-description" },
      el("h4", {}, t("field.description")),
      incident.description ? el("p", { class: "text" }, incident.description) : el("p", { class: "muted" }, t("detail.no_description"))),
    photos.length ? el("section", { class: "incident-photos" }, el("h4", {}, t("detail.photos")), photos.map((p) => photo(p, loadPhoto))) : null);
  const side = el("div", { class: "incident-side" },
    incident.plan ? planBlock(incident.plan) : null,
    actions.length ? el("div", { class: "incident-detail-actions" }, actions) : null,
    el("section", { class: "incident-history" },
      el("h4", {}, t("detail.history")),
      el("ol", { class: "history" }, log.map((entry) => el("li", { dataset: { action: entry.action } },
        el("span", { class: "history-time" }, stamp(entry.at)),
        el("span", { class: "history-what" }, historyText(entry)),
        // The first report's words are the description, shown above.
        entry.text && entry.action !== "reported" ? el("p", { class: "history-text" }, entry.text) : null)))),
    onComment ? commentBox(onComment) : null);
  return el("article", { class: `incident-detail sev-${String(incident.severity || "").toLowerCase()} status-${incident.status}`, dataset: { incident: incident.id } }, main, side);
}

function photo(p, loadPhoto) {
  const img = el("img", { class: "incident-photo", alt: t("detail.photo"), dataset: { photo: p.id } });
  if (loadPhoto) {
    loadPhoto(p.url).then(
      (src) => { img.src = src; },
      () => img.replaceWith(el("p", { class: "muted" }, t("detail.photo_unavailable"))),
    );
  }
  return img;
}

function commentBox(onComment) {
  const text = el("textarea", { name: "comment", rows: 2, maxlength: 4000, "aria-label": t("detail.comment_add"), placeholder: t("detail.comment_add") });
  const button = el("button", { type: "submit" }, t("detail.comment_send"));
  const status = el("p", { class: "message", role: "status" });
  const form = el("form", { class: "incident-comment" }, text, button, status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = text.value.trim();
    if (!value) return;
    button.disabled = true;
    try {
      await onComment(value);
      text.value = "";
      status.textContent = "";
    } catch (error) {
      status.textContent = t("detail.comment_failed", { message: errorText(error) });
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

/**
 * Put a fresh detail view in place of the old one, keeping what the person
 * was typing (a comment, a resolution note) and where the focus was: the
 * view is redrawn whenever the incident changes.
 */
export function replaceKeepingDrafts(host, fresh) {
  const drafts = new Map([...host.querySelectorAll("textarea")].map((area) => [area.className || area.name, area.value]));
  const focused = document.activeElement && host.contains(document.activeElement) ? document.activeElement.className : null;
  host.replaceChildren(fresh);
  for (const area of host.querySelectorAll("textarea")) {
    const draft = drafts.get(area.className || area.name);
    if (draft) area.value = draft;
    if (focused && area.className === focused) area.focus();
  }
}
