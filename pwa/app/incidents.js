// Incident reports from the floor: category, severity, where, what, and a
// photo from the camera. A report is first stored in IndexedDB (photo Blob
// included) and then sent; with no network it waits there and goes on the
// next flush. Its nonce makes a resend (a timeout, a reload mid-send) one
// report on the server.
//
// "My incidents" are those this phone reported or was given, and those given
// to the team of the roster member holding it (the list's `team`). A tap opens
// one in full (pwa/shared/incident.js): photo, description, history,
// comments, resolution note and the emergency plan of its category — shown
// at once to whoever just reported one that has a plan, and to whoever it
// is assigned to. Staff phones hear of changes on the `incidents` topic; a
// door phone (which may not hear every incident) asks again every
// WATCH_EVERY_MS while one of its reports is unresolved.

import { ApiError } from "/shared/api.js";
import { categoryLabel, errorText, teamName } from "/shared/codes.js";
import { language, t } from "/shared/i18n.js";
import { incidentDetail, replaceKeepingDrafts } from "/shared/incident.js";
import { Outbox, isRetryable, newNonce } from "/shared/outbox.js";
import { clockInZone } from "/shared/time.js";
import * as store from "./store.js";

const DEFAULT_CATEGORIES = ["equipment_failure", "power", "network", "medical", "security", "facility", "crowd", "other"];
const SEVERITIES = ["P1", "P2", "P3", "P4"];
const RUN_ALL = new Set(["organiser", "command"]);
const PHOTO_REFUSALS = new Set(["unsupported_photo", "corrupt_photo", "photo_too_large", "photo_too_many_pixels"]);
/** How often a phone without the incidents topic asks about its unresolved reports. */
const WATCH_EVERY_MS = 10000;

const $ = (id) => document.getElementById(id);

export class Incidents {
  constructor(app) {
    this.app = app;
    this.severity = "P3";
    this.outbox = new Outbox({
      store,
      name: "incidents",
      timeOf: (report) => report.created_at,
      send: ([report]) => this.#send(report),
    });
    this.known = [];
    /** The team of the roster member holding this phone (GET …/incidents?mine=1 "team"), or null. */
    this.team = null;
    /** The incident shown in full (its id), or null: the list is shown. */
    this.openId = null;
    this.watchedAt = 0;
    this.photoUrls = [];
  }

  get base() {
    return `/api/v1/events/${this.app.device.event.id}/incidents`;
  }

  mount() {
    this.renderForm();
    $("incident-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    $("incident-photo").addEventListener("change", () => {
      const file = $("incident-photo").files[0];
      const preview = $("incident-preview");
      if (preview.src) URL.revokeObjectURL(preview.src);
      preview.classList.toggle("hidden", !file);
      if (file) preview.src = URL.createObjectURL(file);
    });
    $("incident-back").addEventListener("click", () => this.close());
    window.addEventListener("languagechange-muster", () => {
      this.renderForm();
      this.render();
      if (this.openId !== null) this.open(this.openId);
    });
  }

  categories() {
    const given = this.app.device.event.options?.incident_categories;
    return Array.isArray(given) && given.length ? given : DEFAULT_CATEGORIES;
  }

  renderForm() {
    const category = $("incident-category");
    const chosen = category.value;
    category.replaceChildren(...this.categories().map((c) => new Option(categoryLabel(c, this.app.device.event), c, false, c === chosen)));
    const severity = $("incident-severity");
    severity.replaceChildren(
      ...SEVERITIES.map((s) => {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = t(`severity.${s}`);
        button.dataset.severity = s;
        button.classList.toggle("on", s === this.severity);
        button.addEventListener("click", () => {
          this.severity = s;
          this.renderForm();
        });
        return button;
      }),
    );
    const location = $("incident-location");
    // A door phone reports from its own gate unless it says otherwise.
    const own = this.app.device.gate ? `gate:${this.app.device.gate.id ?? this.app.device.gate}` : "";
    const where = location.value || own;
    location.replaceChildren(new Option(t("incident.location.none"), ""));
    for (const zone of this.app.layout.zones) location.add(new Option(zone.name, `zone:${zone.id}`, false, where === `zone:${zone.id}`));
    for (const gate of this.app.layout.gates) location.add(new Option(gate.name, `gate:${gate.id}`, false, where === `gate:${gate.id}`));
  }

  async submit() {
    const title = $("incident-title").value.trim() || categoryLabel($("incident-category").value, this.app.device.event);
    const [kind, id] = ($("incident-location").value || ":").split(":");
    const photo = $("incident-photo").files[0] || null;
    const report = {
      nonce: newNonce(),
      created_at: new Date().toISOString(),
      category: $("incident-category").value,
      severity: this.severity,
      title,
      description: $("incident-description").value.trim(),
      zone: kind === "zone" ? Number(id) : null,
      gate: kind === "gate" ? Number(id) : null,
      photo, // a Blob: IndexedDB keeps it as it is
      photo_name: photo ? photo.name : "",
    };
    await this.outbox.add(report);
    $("incident-form").reset();
    $("incident-location").value = "";
    $("incident-preview").classList.add("hidden");
    this.severity = "P3";
    this.renderForm();
    this.app.queueChanged();
    this.say(t("incident.queued"));
    await this.render();
    if (this.app.connection.online) {
      try {
        if (await this.flush()) this.say(t("incident.sent"), "ok");
      } catch (error) {
        if (isRetryable(error)) this.app.connection.set(false);
      }
    }
  }

  /** Send every stored report; resolves to the number sent. Retryable failures propagate. */
  async flush() {
    const sent = await this.outbox.flush();
    if (sent) {
      this.app.queueChanged();
      await this.refresh();
    }
    if (this.planFor !== undefined) {
      const id = this.planFor;
      delete this.planFor;
      if (this.app.current === "incidents" && this.openId === null) await this.open(id);
    }
    return sent;
  }

  /**
   * A phone that does not hear the incidents topic (a door) asks about its
   * own reports while one is unresolved, at most every WATCH_EVERY_MS.
   */
  async watch() {
    if (this.app.topics().includes("incidents")) return;
    if (!this.known.some((i) => i.status !== "resolved")) return;
    if (Date.now() - this.watchedAt < WATCH_EVERY_MS) return;
    this.watchedAt = Date.now();
    await this.refresh();
  }

  say(text, tone = "") {
    const message = $("incident-message");
    message.textContent = text;
    message.className = `message ${tone}`;
  }

  pendingCount() {
    return this.outbox.count();
  }


  async #send(report) {
    let answer;
    try {
      answer = await this.#post(report);
    } catch (error) {
      if (isRetryable(error)) throw error;
      if (error.status === 401) this.app.revoked();
      // Refused for good: kept and shown (in the reader's language, so the
      // code is kept, not a sentence), not resent blindly.
      await this.outbox.hold(report.nonce, { status: error.status, code: error.code, details: error.details });
      return [];
    }
    // The reporter gets the category's emergency plan at once.
    if (answer && answer.plan && !(answer.report && answer.report.repeated)) this.planFor = answer.id;
    return [report.nonce];
  }

  /** Send one report; a photo the server refuses (not a picture, too big) is dropped and the report sent without it. */
  async #post(report) {
    try {
      return await this.app.api.post(this.base, reportForm(report), { timeoutMs: 60000 });
    } catch (error) {
      if (!(report.photo && error instanceof ApiError && PHOTO_REFUSALS.has(error.code))) throw error;
      report.photo = null;
      report.description = `${report.description}\n(${errorText(error)})`.trim();
      await this.outbox.add(report);
      return this.app.api.post(this.base, reportForm(report), { timeoutMs: 60000 });
    }
  }

  /** Fetch my incidents from the server (reported by or assigned to this phone, or to its team). */
  async refresh() {
    try {
      const answer = await this.app.api.get(`${this.base}?mine=1&limit=50`, { timeoutMs: 8000 });
      this.known = answer.incidents;
      this.team = answer.team ?? null;
      await store.put("kv", { incidents: this.known, team: this.team }, "my-incidents");
    } catch (error) {
      if (!isRetryable(error)) this.say(t("incident.failed", { message: errorText(error) }), "bad");
      const kept = await store.get("kv", "my-incidents");
      if (kept && Array.isArray(kept.incidents)) [this.known, this.team] = [kept.incidents, kept.team ?? null];
    }
    await this.render();
    if (this.openId !== null) await this.open(this.openId, { quiet: true });
  }

  /** The `incidents` topic said something changed: fetch again if it is one of mine. */
  changed(data) {
    const ids = new Set(this.known.map((i) => i.id));
    const incident = data && (data.incident || data);
    const me = this.app.device.id;
    const ours = incident && this.team !== null && incident.team === this.team;
    if (!incident || ids.has(incident.id) || incident.reporter?.id === me || incident.assignee?.id === me || ours) this.refresh();
    // Given an incident just now: its plan comes up, unless something else is open.
    if (incident && incident.assignee?.id === me && ["assigned", "acknowledged"].includes(data.action) && data.entry?.actor?.id !== me) {
      if (incident.plan && this.openId === null && this.app.current === "incidents") this.open(incident.id);
      else this.say(t("incident.assigned_to_me", { title: incident.title }), "ok");
    } else if (ours && !incident.assignee && data.action === "assigned" && data.entry?.actor?.id !== me) {
      this.say(t("incident.assigned_to_team", { team: teamName(incident.team), title: incident.title }), "ok");
    }
  }

  async render() {
    const list = $("incident-list");
    const pending = (await this.outbox.pending()).reverse();
    const rows = pending.map((report) => {
      const li = row(report.title, [categoryLabel(report.category, this.app.device.event), this.clock(report.created_at)], [
        badge(report.severity, report.severity),
        badge(report.held ? "critical" : "pending", report.held ? heldText(report.held) : t("incident.pending")),
      ]);
      li.dataset.pending = report.nonce;
      return li;
    });
    for (const incident of this.known) rows.push(this.#incidentRow(incident));
    if (!rows.length) rows.push(row(t("incident.none"), [], []));
    list.replaceChildren(...rows);
  }

  #incidentRow(incident) {
    const li = row(incident.title, [categoryLabel(incident.category, this.app.device.event), this.clock(incident.created_at)], [
      badge(incident.severity, incident.severity),
      badge(incident.status, t(`incident_status.${incident.status}`)),
      incident.team ? badge("team", t("incident.for_team", { team: teamName(incident.team) })) : null,
      incident.plan ? badge("plan", t("incident.has_plan")) : null,
    ]);
    if (incident.team) li.dataset.team = incident.team;
    li.dataset.incident = incident.id;
    li.dataset.status = incident.status;
    li.classList.add("openable");
    li.querySelector(".what").addEventListener("click", () => this.open(incident.id));
    li.querySelector(".what").setAttribute("role", "button");
    li.querySelector(".what").tabIndex = 0;
    const role = this.app.device.role;
    const me = this.app.device.id;
    const actions = document.createElement("div");
    actions.className = "actions";
    if (incident.status === "open" && (RUN_ALL.has(role) || role === "staff")) {
      actions.append(this.#action("incident.take", incident, "ack"));
    } else if (incident.status === "acknowledged" && !incident.assignee && role === "staff") {
      // Given to my team and nobody's yet: take it for myself (its team is kept).
      actions.append(this.#action("incident.take", incident, "assign"));
    }
    const assignedToMe = incident.assignee && incident.assignee.id === me;
    if (incident.status !== "resolved" && (RUN_ALL.has(role) || (role === "staff" && assignedToMe))) {
      actions.append(this.#action("incident.resolve", incident, "resolve"));
    }
    if (actions.children.length) li.append(actions);
    return li;
  }

  #action(key, incident, verb) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = verb === "resolve" ? "primary" : "";
    button.textContent = t(key);
    button.dataset.action = verb;
    button.addEventListener("click", async () => {
      button.disabled = true;
      await this.act(incident, verb);
    });
    return button;
  }

  /** Take, resolve (with an optional note) or reopen; then show what changed. */
  async act(incident, verb, note = "") {
    const body = verb === "assign" ? { assignee: "me" } : note ? { note } : {};
    try {
      await this.app.api.post(`${this.base}/${incident.id}/${verb}`, body, { timeoutMs: 8000 });
    } catch (error) {
      const message = isRetryable(error) ? t("status.offline") : errorText(error);
      this.say(t("incident.failed", { message }), "bad");
    }
    await this.refresh();
  }

  /** "09:05" in the event's time zone (a phone set to another zone shows the venue's clock). */
  clock(iso) {
    return clockInZone(iso, this.app.device.event.timezone, language());
  }

  /** Show one incident in full: fetched with its history; from the list when offline. */
  async open(id, { quiet = false } = {}) {
    const view = $("incident-detail");
    this.openId = id;
    $("incident-list-view").classList.add("hidden");
    $("incident-report-view").classList.add("hidden");
    view.classList.remove("hidden");
    if (!quiet) document.querySelector("main").scrollTop = 0;
    if (!quiet) $("incident-detail-body").replaceChildren(text("p", t("detail.loading"), "muted"));
    let incident;
    try {
      incident = await this.app.api.get(`${this.base}/${id}`, { timeoutMs: 8000 });
      await store.put("kv", incident, `incident-${id}`);
    } catch (error) {
      incident = (await store.get("kv", `incident-${id}`)) || this.known.find((i) => i.id === id);
      if (!incident) {
        $("incident-detail-body").replaceChildren(text("p", t("detail.unavailable", { message: errorText(error) }), "message bad"));
        return;
      }
    }
    if (this.openId !== id) return;
    for (const url of this.photoUrls) URL.revokeObjectURL(url);
    this.photoUrls = [];
    const event = this.app.device.event;
    const names = {
      zones: new Map(this.app.layout.zones.map((z) => [String(z.id), z.name])),
      gates: new Map(this.app.layout.gates.map((g) => [String(g.id), g.name])),
    };
    const detail = incidentDetail(incident, {
      timeZone: event.timezone,
      names,
      event,
      loadPhoto: async (url) => {
        const blob = await this.app.api.get(url, { timeoutMs: 20000 });
        const objectUrl = URL.createObjectURL(blob);
        this.photoUrls.push(objectUrl);
        return objectUrl;
      },
      onComment: async (comment) => {
        await this.app.api.post(`${this.base}/${id}/comments`, { text: comment, nonce: newNonce() }, { timeoutMs: 8000 });
        await this.open(id, { quiet: true });
      },
      actions: this.#detailActions(incident),
    });
    replaceKeepingDrafts($("incident-detail-body"), detail);
  }

  close() {
    this.openId = null;
    for (const url of this.photoUrls) URL.revokeObjectURL(url);
    this.photoUrls = [];
    $("incident-detail").classList.add("hidden");
    $("incident-list-view").classList.remove("hidden");
    $("incident-report-view").classList.remove("hidden");
  }

  /** What this phone may do to the incident (the same rules as server/features/incident_rules.py may_act). */
  #detailActions(incident) {
    const role = this.app.device.role;
    const me = this.app.device.id;
    const runsAll = RUN_ALL.has(role);
    const mine = incident.assignee && incident.assignee.id === me;
    const buttons = [];
    if (incident.status === "open" && (runsAll || role === "staff")) {
      buttons.push(this.#detailButton("incident.take", "ack", incident));
    } else if (incident.status === "acknowledged" && !incident.assignee && role === "staff") {
      buttons.push(this.#detailButton("incident.take", "assign", incident));
    }
    if (incident.status !== "resolved" && (runsAll || (role === "staff" && mine))) {
      const note = document.createElement("textarea");
      note.rows = 2;
      note.maxLength = 4000;
      note.placeholder = t("incident.resolve_note");
      note.setAttribute("aria-label", t("incident.resolve_note"));
      note.className = "resolve-note";
      buttons.push(note, this.#detailButton("incident.resolve", "resolve", incident, () => note.value.trim()));
    }
    const reported = incident.reporter && incident.reporter.id === me;
    if (incident.status === "resolved" && (runsAll || (role === "staff" && (mine || reported)))) {
      buttons.push(this.#detailButton("incident.reopen", "reopen", incident));
    }
    return buttons;
  }

  #detailButton(key, verb, incident, note = () => "") {
    const button = document.createElement("button");
    button.type = "button";
    button.className = verb === "resolve" ? "primary big" : "big";
    button.textContent = t(key);
    button.dataset.action = verb;
    button.addEventListener("click", async () => {
      button.disabled = true;
      await this.act(incident, verb, note());
    });
    return button;
  }
}

/** Why a report was refused, in the reader's language (older phones kept a sentence). */
function heldText(held) {
  return typeof held === "object" ? errorText(held) : String(held);
}

function text(tag, content, className = "") {
  const el = document.createElement(tag);
  el.textContent = content;
  if (className) el.className = className;
  return el;
}

function reportForm(report) {
  const form = new FormData();
  for (const key of ["nonce", "category", "severity", "title", "description", "zone", "gate"]) {
    if (report[key] !== null && report[key] !== undefined && report[key] !== "") form.append(key, String(report[key]));
  }
  if (report.photo) form.append("photo", report.photo, report.photo_name || "photo.jpg");
  return form;
}

function badge(kind, text) {
  const span = document.createElement("span");
  span.className = `badge ${kind}`;
  span.textContent = text;
  return span;
}

function row(title, details, badges) {
  const li = document.createElement("li");
  const what = document.createElement("div");
  what.className = "what";
  const strong = document.createElement("strong");
  strong.textContent = title;
  what.append(strong, ...badges.filter(Boolean));
  if (details.length) {
    const span = document.createElement("div");
    span.className = "muted";
    span.textContent = details.filter(Boolean).join(" · ");
    what.append(span);
  }
  li.append(what);
  return li;
}
