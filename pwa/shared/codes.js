// Saying what the server answered with codes, in the page's language: an
// API error (code + details), the fields of a 422, an alert (kind + data),
// a bad import row (code + params), a person (name, or their role). The
// words are in terms.js; the server never sends a sentence a page shows
// (docs/glossary.md, "Codes the pages word").

import { language, t } from "./i18n.js";

function known(key, params) {
  const text = t(key, params);
  return text === key ? null : text;
}

/** Built-in teams (server/features/roster_rules.py TEAMS); any other name is the event's own. */
export const TEAMS = ["security", "reception", "logistics", "tech"];

/** A roster team in words: a built-in one in the page's language, the event's own as named. */
export function teamName(team) {
  return TEAMS.includes(team) ? t(`team.${team}`) : String(team ?? "");
}

/** A category's name: the event's own label (options.category_labels), a built-in one, or its key. */
export function categoryLabel(key, event = null) {
  const own = event && event.options && event.options.category_labels && event.options.category_labels[key];
  if (own && typeof own === "object") {
    const text = own[language()] || own.zh || own.en;
    if (text) return String(text);
  }
  return known(`category.${key}`) ?? String(key ?? "");
}

/** Parameters that are codes themselves (a role, a status) in words. */
function wordedParams(details) {
  const params = details && typeof details === "object" && !Array.isArray(details) ? { ...details } : {};
  if (params.role) params.role = known(`role.${params.role}`) ?? params.role;
  if (params.status) params.status = known(`incident_status.${params.status}`) ?? params.status;
  if (params.action) params.action = known(`incident_action.${params.action}`) ?? params.action;
  if (params.category) params.category = categoryLabel(params.category);
  return params;
}

/** A problem the page found itself, already in words (a time zone typed wrong), with the field it is about. */
export class PageError extends Error {
  constructor(text, field = "") {
    super(text);
    this.name = "PageError";
    this.text = text;
    this.field = field;
  }
}

/**
 * An error in one sentence: a network failure or timeout, or an API error
 * of the one shape ({status, code, details}) worded from error.<code>. The
 * server's `message` (English, for developers) is never shown.
 */
export function errorText(err) {
  if (!err) return "";
  if (err instanceof PageError) return err.text;
  if (err.name === "AbortError") return t("error.timeout");
  if (err instanceof TypeError) return t("error.network");
  if (err.status === 503 || err.code === "database_unavailable") return t("error.database_unavailable");
  const code = err.code || "";
  const text = known(`error.${code}`, wordedParams(err.details));
  if (text) return text;
  if (err.status === 401) return t("error.unauthorized");
  if (err.status === 403) return t("error.forbidden");
  if (err.status === 404) return t("error.not_found");
  if (err.status === 409) return t("error.conflict");
  if (err.status === 413) return t("error.payload_too_large");
  if (err.status >= 500) return t("error.internal_error");
  return t("error.invalid_request");
}

/** The field a 422 line is about ("body.name" → name), and its label if it has one. */
export function fieldName(line) {
  return String((line && line.field) || "").replace(/^body\./, "").split(".")[0];
}

/** "名称：最多 200 个字符" — each field line of a 422 (details: [{field, code, params}]). */
export function fieldLines(details) {
  if (!Array.isArray(details)) return [];
  return details
    .filter((d) => d && typeof d === "object" && (d.field || d.code))
    .map((d) => {
      const problem = known(`validation.${d.code}`, d.params || {}) ?? t("validation.invalid");
      const label = known(`field.${fieldName(d)}`);
      if (!label) return problem;
      return language() === "zh" ? `${label}：${problem}` : `${label}: ${problem}`;
    });
}

/** Why an import row was refused ({code, params}). */
export function rowProblem(row) {
  return known(`import.row.${row && row.code}`, (row && row.params) || {}) ?? t("import.row.unknown");
}

/** Someone's name, or their role when they have none ("主办方"), or "(no name)". */
export function personName(person) {
  if (!person) return "";
  if (typeof person === "string") return person || t("person.unnamed");
  if (person.name) return String(person.name);
  return (person.role && known(`role.${person.role}`)) || t("person.unnamed");
}

function clock(iso, timeZone) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleTimeString(language() === "zh" ? "zh-CN" : "en-GB", { timeZone: timeZone || undefined, hour: "2-digit", minute: "2-digit" });
}

/**
 * A timeout in words, true to the second: "3 s", "2 min", "1 min 30 s" (an
 * escalation clock is minutes on the day, seconds in the sped-up demo:
 * server/demo_day.py escalation_seconds).
 */
export function waitText(seconds) {
  const total = Math.max(0, Math.round(Number(seconds) || 0));
  const m = Math.floor(total / 60);
  const s = total % 60;
  if (m === 0) return t("wait.seconds", { s });
  return s === 0 ? t("wait.minutes", { m }) : t("wait.minutes_seconds", { m, s });
}

/** An alert's label (its kind) in words. */
export function alertKind(kind) {
  return known(`alert.kind.${kind}`) ?? t("alert.kind.unknown");
}

/**
 * What an alert says, from its kind and data (server/features/alerts.py): names come
 * with the data; times are shown in `timeZone` (the event's).
 */
export function alertText(alert, { timeZone = null } = {}) {
  const kind = (alert && alert.kind) || "";
  const data = (alert && alert.data) || {};
  const params = { ...data };
  if (kind === "conflict") {
    params.code = data.code || `#${data.ticket ?? "?"}`;
    params.gate = data.gate_name || "—";
    params.time = clock(data.scanned_at, timeZone);
    params.reason = data.reason ? known(`reason.${data.reason}`) ?? data.reason : "";
    // Admitted twice, or the door and the server disagreeing (checkin/sync.py).
    const divergence = data.divergence && data.divergence !== "admitted_twice" ? known(`alert.conflict.${data.divergence}`, params) : null;
    if (divergence) return divergence;
  } else if (kind === "walk_in_conflict") {
    // A walk-in bound to a blank it could not have (server/features/walk_in_rules.py).
    params.code = data.code || `#${data.ticket ?? "?"}`;
    params.gate = data.gate_name || "—";
    params.time = clock(data.scanned_at, timeZone);
    return known(`alert.walk_in_conflict.${data.reason}`, params) ?? t("alert.unknown");
  } else if (kind === "low_stock" || kind === "critical_stock") {
    params.item = data.location ? t("item.at", { name: data.name, location: data.location }) : data.name;
    params.unit = data.unit || "";
  } else if (kind === "escalation") {
    params.severity = data.severity || "";
    params.wait = waitText(data.after_seconds);
    return known(`alert.escalation.${data.level}`, params) ?? t("alert.unknown");
  } else if (kind === "task_overdue") {
    params.due = clock(data.due_at, timeZone);
  }
  return known(`alert.${kind}`, params) ?? t("alert.unknown");
}

/** Why the camera did not start, from the browser's error name (its message is English). */
export function cameraText(error) {
  return known(`camera.${error && error.name}`) ?? t("camera.other");
}
