// Personal data after the day (issue 21): the event's retention policy,
// the archive to keep before the shred, the shred by hand, one attendee's
// export and erasure, and the audit trail. The server decides everything
// (GET …/retention says when the shred runs); this page shows it, asks
// before the steps that cannot be undone, and words the codes.
//
// The reminder banner on every other section of the event comes from here
// too (`showRetentionReminder`), so the console's main.js only calls it.

import { language, t } from "../../shared/i18n.js";
import { formatInZone } from "../../shared/time.js";
import { ask, clear, download, errorText, field, h, onSubmit, toast } from "./dom.js";

/** Days before the shred from which every section of the event reminds the organiser. */
export const REMIND_DAYS = 7;

const PAGE_SIZE = 20;

/** "soon", "due" or null: whether the console should remind (the policy from GET …/retention). */
export function reminderState(policy) {
  if (!policy || policy.shredded_at) return null;
  if (policy.due_in_days <= 0) return "due";
  return policy.due_in_days <= REMIND_DAYS ? "soon" : null;
}

function dueLine(policy, event) {
  const at = formatInZone(policy.due_at, event.timezone, language());
  if (policy.shredded_at) {
    return t("retention.shredded_on", { at: formatInZone(policy.shredded_at, event.timezone, language()) });
  }
  if (policy.due_in_days <= 0) return t("retention.due_now", { at });
  return t("retention.due_in", { at, days: days(Math.max(1, Math.ceil(policy.due_in_days))) });
}

/** "1 day", "3 days" (one key each, so English needs no plural rules in the page). */
function days(n) {
  return t(n === 1 ? "retention.one_day" : "retention.n_days", { n });
}

/** The banner above any other section of the event while the shred is near or due. */
export async function showRetentionReminder(view) {
  let policy;
  try {
    policy = await view.api.get(`/api/v1/events/${view.event.id}/retention`, { timeoutMs: 8000 });
  } catch {
    return; // A reminder is a convenience: the section itself is already on screen.
  }
  const state = reminderState(policy);
  if (view.stale() || !state) return;
  view.main.querySelector("#retention-reminder")?.remove();
  view.main.prepend(h("div", { class: `reminder ${state}`, id: "retention-reminder", role: "status", dataset: { state } },
    h("p", {}, h("strong", {}, dueLine(policy, view.event)), " ", t("retention.reminder_help")),
    h("a", { href: `#event=${view.event.id}&tab=retention`, class: "button-like" }, t("retention.reminder_link"))));
}

/** At most this many events' policies are asked for on the event list. */
const LIST_LOOKUPS = 20;

/**
 * Mark the rows of the event list (#event-list) whose shred is near, due or
 * done. Only events that have ended or end within REMIND_DAYS can be near
 * (the retention is never negative), so only those are asked about.
 */
export async function markEventList(view) {
  const table = view.main.querySelector("#event-list");
  if (!table) return;
  let events;
  try {
    ({ events } = await view.api.get("/api/v1/events"));
  } catch {
    return;
  }
  const horizon = Date.now() + REMIND_DAYS * 86400000;
  const candidates = events.filter((e) => !e.shredded_at && Date.parse(e.ends_at) <= horizon).slice(0, LIST_LOOKUPS);
  const policies = await Promise.all(candidates.map((e) => view.api.get(`/api/v1/events/${e.id}/retention`).catch(() => null)));
  if (view.stale()) return;
  const byId = new Map(candidates.map((e, i) => [e.id, policies[i]]));
  for (const event of events) {
    const cell = table.querySelector(`tr[data-event="${event.id}"] td`);
    if (!cell) continue;
    const state = event.shredded_at ? "done" : reminderState(byId.get(event.id));
    if (!state) continue;
    const policy = byId.get(event.id);
    const text = state === "done" ? t("retention.list_done")
      : state === "due" ? t("retention.list_due")
        : t("retention.list_soon", { days: days(Math.max(1, Math.ceil(policy.due_in_days))) });
    cell.append(h("a", {
      href: `#event=${event.id}&tab=retention`,
      class: `pill retention-pill ${state === "done" ? "muted-pill" : state === "due" ? "critical" : "low"}`,
      dataset: { retention: state },
    }, text));
  }
}

export async function showRetention(view) {
  const { api, event } = view;
  const base = `/api/v1/events/${event.id}`;
  const [policy, audit] = await Promise.all([api.get(`${base}/retention`), api.get(`${base}/audit`)]);
  if (view.stale()) return;
  const auditBox = h("div", { id: "retention-audit-list" });
  const refreshAudit = async () => {
    try {
      const latest = await api.get(`${base}/audit`);
      if (!view.stale()) clear(auditBox, auditTable(latest.entries, event));
    } catch (err) {
      clear(auditBox, h("p", { class: "form-error", role: "alert" }, errorText(err)));
    }
  };
  clear(auditBox, auditTable(audit.entries, event));
  const shredded = Boolean(policy.shredded_at);
  clear(view.main,
    h("div", { class: "page-head" }, h("h1", {}, t("nav.retention")), h("p", { class: "muted" }, t("retention.help"))),
    h("div", { class: "grid-2" },
      policyCard(view, policy),
      shredded ? shreddedCard(event) : beforeCard(view, refreshAudit)),
    personCard(view, shredded, refreshAudit),
    h("section", { class: "card", id: "retention-audit" },
      h("h2", {}, t("retention.audit")), h("p", { class: "muted" }, t("retention.audit_help")), auditBox));
}

function policyCard(view, policy) {
  const { api, event } = view;
  const state = reminderState(policy);
  const input = h("input", {
    name: "retention_days", type: "number", min: "0", max: "3650", step: "1", inputmode: "numeric",
    value: policy.retention_days == null ? "" : String(policy.retention_days),
    placeholder: String(policy.default_days),
  });
  const form = h("form", { class: "form", id: "retention-form" },
    field("retention.days", h("div", { class: "with-unit" }, input, h("span", {}, t("retention.days_unit"))),
      t("retention.days_hint", { days: days(policy.default_days) })),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, t("action.save"))));
  onSubmit(form, async (data) => {
    const text = String(data.get("retention_days") || "").trim();
    await api.patch(`/api/v1/events/${event.id}`, { retention_days: text === "" ? null : Number(text) });
    toast(t("saved"));
    view.reload();
  });
  return h("section", { class: "card", id: "retention-policy" },
    h("h2", {}, t("retention.policy")),
    h("p", { class: `due-line ${state || (policy.shredded_at ? "done" : "")}`, id: "retention-due", dataset: { state: state || "" } },
      dueLine(policy, event)),
    h("p", { class: "muted" }, t(policy.retention_days == null ? "retention.uses_default" : "retention.uses_own", { days: days(policy.effective_days) })),
    policy.shredded_at ? null : form,
    h("details", { class: "retention-what" },
      h("summary", {}, t("retention.what")),
      h("p", {}, h("strong", {}, t("retention.removed")), " ", t("retention.removed_list")),
      h("p", {}, h("strong", {}, t("retention.kept")), " ", t("retention.kept_list"))));
}

function beforeCard(view, refreshAudit) {
  const { api, event } = view;
  const base = `/api/v1/events/${event.id}`;
  const archive = h("button", { type: "button", id: "retention-archive" }, t("retention.archive"));
  archive.addEventListener("click", async () => {
    archive.disabled = true;
    try {
      download(await api.get(`${base}/exports/personal-data.zip?lang=${language()}`, { timeoutMs: 300000 }), `personal-data-${event.id}.zip`);
      refreshAudit();
    } catch (err) {
      toast(errorText(err), "bad");
    } finally {
      archive.disabled = false;
    }
  });
  const shred = h("button", { type: "button", class: "danger", id: "retention-shred" }, t("retention.shred"));
  shred.addEventListener("click", async () => {
    const typed = await ask({
      title: t("retention.shred_title"),
      message: t("retention.shred_message", { name: event.name }),
      inputLabel: t("retention.shred_type_name"),
      confirmLabel: t("retention.shred_confirm"),
      danger: true,
    });
    if (typed === null) return;
    if (typed !== event.name.trim()) {
      toast(t("retention.name_mismatch"), "bad");
      return;
    }
    shred.disabled = true;
    try {
      await api.post(`${base}/shred`, { confirm: true }, { timeoutMs: 300000 });
      toast(t("retention.shred_done"));
      view.reload();
    } catch (err) {
      toast(errorText(err), "bad");
      shred.disabled = false;
    }
  });
  return h("section", { class: "card", id: "retention-before" },
    h("h2", {}, t("retention.before")),
    h("p", {}, t("retention.archive_help")),
    h("div", { class: "buttons" }, archive),
    h("hr"),
    h("p", {}, t("retention.shred_help")),
    h("div", { class: "buttons" }, shred));
}

function shreddedCard(event) {
  return h("section", { class: "card", id: "retention-after" },
    h("h2", {}, t("retention.after")),
    h("p", {}, t("retention.shredded_help")),
    h("p", {}, h("a", { href: `#event=${event.id}&tab=review` }, t("link.report"))));
}

function personCard(view, shredded, refreshAudit) {
  const { api, event } = view;
  const results = h("div", { id: "person-results" });
  const search = h("input", { type: "search", name: "q", maxlength: 200, autocomplete: "off", placeholder: t("retention.person_search") });
  const form = h("form", { class: "row", id: "person-search" }, search,
    h("button", { type: "submit", class: "primary" }, t("retention.person_find")));
  onSubmit(form, async (data) => {
    const q = String(data.get("q") || "").trim();
    if (!q) return;
    const found = await api.get(`/api/v1/events/${event.id}/tickets?q=${encodeURIComponent(q)}&limit=${PAGE_SIZE + 1}`);
    if (view.stale()) return;
    clear(results, personTable(found.tickets.slice(0, PAGE_SIZE), found.tickets.length > PAGE_SIZE, view, refreshAudit));
  });
  return h("section", { class: "card", id: "retention-person" },
    h("h2", {}, t("retention.person")),
    h("p", { class: "muted" }, t(shredded ? "retention.person_after_shred" : "retention.person_help")),
    form, results);
}

function personTable(tickets, more, view, refreshAudit) {
  if (!tickets.length) return h("p", { class: "empty muted" }, t("retention.person_none"));
  return h("div", {},
    h("table", { class: "table", id: "person-table" },
      h("thead", {}, h("tr", {}, ["ticket.code", "ticket.holder_name", "ticket.holder_email", "ticket.status"].map((k) => h("th", {}, t(k))), h("th"))),
      h("tbody", {}, tickets.map((ticket) => personRow(ticket, view, refreshAudit)))),
    more ? h("p", { class: "muted small-text" }, t("retention.person_more", { n: PAGE_SIZE })) : null);
}

function personRow(ticket, view, refreshAudit) {
  const { api } = view;
  const path = `/api/v1/tickets/${ticket.id}`;
  const row = h("tr", { dataset: { ticket: String(ticket.id) } });
  const save = async (format) => {
    try {
      if (format === "csv") {
        download(await api.get(`${path}/personal-data?format=csv&lang=${language()}`), `personal-data-${ticket.id}.csv`);
      } else {
        const record = await api.get(`${path}/personal-data`);
        download(new Blob([JSON.stringify(record, null, 2)], { type: "application/json" }), `personal-data-${ticket.id}.json`);
      }
      refreshAudit();
    } catch (err) {
      toast(errorText(err), "bad");
    }
  };
  const erase = async () => {
    const typed = await ask({
      title: t("retention.erase_title"),
      message: t("retention.erase_message", { name: ticket.holder_name || ticket.code }),
      inputLabel: t("retention.erase_type_code", { code: ticket.code }),
      confirmLabel: t("retention.erase_confirm"),
      danger: true,
    });
    if (typed === null) return;
    if (typed.toUpperCase() !== String(ticket.code).toUpperCase()) {
      toast(t("retention.code_mismatch"), "bad");
      return;
    }
    try {
      await api.post(`${path}/erase`, {});
      toast(t("retention.erased"));
      clear(row, ...personCells({ ...ticket, holder_name: "", holder_email: "", status: "retired" }, null));
      row.classList.add("revoked");
      refreshAudit();
    } catch (err) {
      toast(errorText(err), "bad");
    }
  };
  const actions = ticket.holder_name || ticket.holder_email
    ? [
      h("button", { type: "button", class: "small", dataset: { action: "json" }, onclick: () => save("json") }, t("retention.download_json")),
      h("button", { type: "button", class: "small", dataset: { action: "csv" }, onclick: () => save("csv") }, t("retention.download_csv")),
      h("button", { type: "button", class: "small danger-outline", dataset: { action: "erase" }, onclick: erase }, t("retention.erase")),
    ]
    : null;
  clear(row, ...personCells(ticket, actions));
  return row;
}

function personCells(ticket, actions) {
  const status = ticket.status in STATUS_KEYS ? STATUS_KEYS[ticket.status] : null;
  return [
    h("td", { class: "code" }, ticket.code),
    h("td", {}, ticket.holder_name || h("span", { class: "muted" }, t("retention.erased_name"))),
    h("td", { class: "muted" }, ticket.holder_email || "—"),
    h("td", {}, h("span", { class: `pill ${ticket.status}` }, status ? t(status) : ticket.status)),
    h("td", { class: "actions" }, actions || h("span", { class: "muted small-text" }, t("retention.nothing_held"))),
  ];
}

const STATUS_KEYS = { valid: "status.valid", revoked: "status.revoked", retired: "status.retired" };

/** Who did what and when, without personal data: ids and a count of rows changed. */
function auditTable(entries, event) {
  if (!entries.length) return h("p", { class: "empty muted" }, t("retention.audit_none"));
  return h("table", { class: "table", id: "audit-table" },
    h("thead", {}, h("tr", {}, ["retention.audit_when", "retention.audit_action", "retention.audit_who", "retention.audit_ticket", "retention.audit_rows"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, entries.map((e) => h("tr", { dataset: { action: e.action } },
      h("td", {}, formatInZone(e.at, event.timezone, language())),
      h("td", {}, t(`retention.action.${e.action}`)),
      h("td", {}, e.actor == null ? t("retention.by_clock") : t("retention.by_account", { id: e.actor })),
      h("td", { class: "code" }, e.ticket == null ? "—" : `#${e.ticket}`),
      h("td", { class: "num" }, rowsChanged(e.data))))));
}

function rowsChanged(data) {
  const counts = data && typeof data === "object" ? Object.values(data).filter((v) => typeof v === "number") : [];
  if (!counts.length) return "—"; // an export changes nothing
  return counts.reduce((sum, v) => sum + v, 0).toLocaleString();
}
