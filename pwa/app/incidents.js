// Incident reports from the floor: category, severity, where, what, and a
// photo from the camera. A report is first stored in IndexedDB (photo Blob
// included) and then sent; with no network it waits there and goes on the
// next flush. Its nonce makes a resend (a timeout, a reload mid-send) one
// report on the server.

import { ApiError } from "/shared/api.js";
import { categoryLabel, errorText } from "/shared/codes.js";
import { t, formatTime } from "/shared/i18n.js";
import { Outbox, isRetryable, newNonce } from "/shared/outbox.js";
import * as store from "./store.js";

const DEFAULT_CATEGORIES = ["equipment_failure", "power", "network", "medical", "security", "facility", "crowd", "other"];
const SEVERITIES = ["P1", "P2", "P3", "P4"];
const RUN_ALL = new Set(["organiser", "command"]);
const PHOTO_REFUSALS = new Set(["unsupported_photo", "corrupt_photo", "photo_too_large", "photo_too_many_pixels"]);

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
    window.addEventListener("languagechange-muster", () => {
      this.renderForm();
      this.render();
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
    const where = location.value;
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
    return sent;
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
    try {
      await this.#post(report);
    } catch (error) {
      if (isRetryable(error)) throw error;
      if (error.status === 401) this.app.revoked();
      // Refused for good: kept and shown, not resent blindly.
      await this.outbox.hold(report.nonce, errorText(error));
      return [];
    }
    return [report.nonce];
  }

  /** Send one report; a photo the server refuses (not a picture, too big) is dropped and the report sent without it. */
  async #post(report) {
    try {
      await this.app.api.post(this.base, reportForm(report), { timeoutMs: 60000 });
    } catch (error) {
      if (!(report.photo && error instanceof ApiError && PHOTO_REFUSALS.has(error.code))) throw error;
      report.photo = null;
      report.description = `${report.description}\n(${errorText(error)})`.trim();
      await this.outbox.add(report);
      await this.app.api.post(this.base, reportForm(report), { timeoutMs: 60000 });
    }
  }

  /** Fetch my incidents from the server (reported by or assigned to this phone). */
  async refresh() {
    try {
      const answer = await this.app.api.get(`${this.base}?mine=1&limit=50`, { timeoutMs: 8000 });
      this.known = answer.incidents;
      await store.put("kv", this.known, "my-incidents");
    } catch (error) {
      if (!isRetryable(error)) this.say(t("incident.failed", { message: errorText(error) }), "bad");
      this.known = (await store.get("kv", "my-incidents")) || this.known;
    }
    await this.render();
  }

  /** The `incidents` topic said something changed: fetch again if it is one of mine. */
  changed(data) {
    const ids = new Set(this.known.map((i) => i.id));
    const incident = data && (data.incident || data);
    if (!incident || ids.has(incident.id) || incident.reporter?.id === this.app.device.id) this.refresh();
  }

  async render() {
    const list = $("incident-list");
    const pending = (await this.outbox.pending()).reverse();
    const rows = pending.map((report) => {
      const li = row(report.title, [categoryLabel(report.category, this.app.device.event), formatTime(report.created_at)], [
        badge(report.severity, report.severity),
        badge(report.held ? "critical" : "pending", report.held || t("incident.pending")),
      ]);
      li.dataset.pending = report.nonce;
      return li;
    });
    for (const incident of this.known) rows.push(this.#incidentRow(incident));
    if (!rows.length) rows.push(row(t("incident.none"), [], []));
    list.replaceChildren(...rows);
  }

  #incidentRow(incident) {
    const li = row(incident.title, [categoryLabel(incident.category, this.app.device.event), formatTime(incident.created_at)], [
      badge(incident.severity, incident.severity),
      badge(incident.status, t(`incident_status.${incident.status}`)),
    ]);
    li.dataset.incident = incident.id;
    const role = this.app.device.role;
    const me = this.app.device.id;
    const actions = document.createElement("div");
    actions.className = "actions";
    if (incident.status === "open" && (RUN_ALL.has(role) || role === "staff")) {
      actions.append(this.#action("incident.take", incident, "ack"));
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
      try {
        await this.app.api.post(`${this.base}/${incident.id}/${verb}`, {}, { timeoutMs: 8000 });
      } catch (error) {
        const message = isRetryable(error) ? t("status.offline") : errorText(error);
        this.say(t("incident.failed", { message }), "bad");
      }
      await this.refresh();
    });
    return button;
  }
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
  what.append(strong, ...badges);
  if (details.length) {
    const span = document.createElement("div");
    span.className = "muted";
    span.textContent = details.filter(Boolean).join(" · ");
    what.append(span);
  }
  li.append(what);
  return li;
}
