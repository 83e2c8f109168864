// The door scanner: camera or keyboard-wedge input, in/out, the answer on
// the whole screen, undo of the last scan, lookup by name.
//
// Online, each scan is one POST /scans and the server decides. When that
// request gets no answer (no network, a timeout), the same scan — same
// nonce — is decided here by doorbook.js and queued; the server replays
// the queue later and, because the nonce is the same, a scan it did
// receive before the timeout is not counted twice.

import { ApiError } from "/shared/api.js";
import { t } from "/shared/i18n.js";
import { startCamera } from "./camera.js";
import { zoneAfter } from "./doorbook.js";
import { signal } from "./feedback.js";
import { isRetryable, newNonce } from "/shared/outbox.js";

const ONLINE_SCAN_TIMEOUT_MS = 3000;
const ANSWER_OK_MS = 1300;
const ANSWER_BAD_MS = 2600;

const $ = (id) => document.getElementById(id);

export class Scanner {
  constructor(app) {
    this.app = app;
    this.direction = "in";
    this.last = null;
    this.stopCamera = null;
    this.answerTimer = null;
    this.busy = Promise.resolve();
    this.inside = null;
  }

  get eventId() {
    return this.app.device.event.id;
  }

  mount() {
    for (const button of $("direction").querySelectorAll("button")) {
      button.addEventListener("click", () => this.setDirection(button.dataset.direction));
    }
    $("wedge-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("wedge").value;
      $("wedge").value = "";
      this.enqueue(text);
    });
    // A hardware scanner types into whatever has focus: keep it on the
    // wedge field while the scan view is up (but never steal it from the
    // lookup field or a select). inputmode=none keeps the phone's own
    // keyboard away; a tap on the field brings it for typing a code.
    const wedge = $("wedge");
    wedge.setAttribute("inputmode", "none");
    wedge.addEventListener("pointerdown", () => wedge.setAttribute("inputmode", "text"));
    wedge.addEventListener("blur", () => {
      wedge.setAttribute("inputmode", "none");
      setTimeout(() => this.focusWedge(), 250);
    });
    $("camera-toggle").addEventListener("click", () => this.toggleCamera());
    $("undo").addEventListener("click", () => this.undo());
    $("answer").addEventListener("click", () => this.hideAnswer());
    $("lookup-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.lookup($("lookup").value);
    });
    $("conflicts-clear").addEventListener("click", async () => {
      await this.app.queue.clearConflicts();
      this.showConflicts();
    });
    $("gate-select").addEventListener("change", () => {
      localStorage.setItem("muster.gate", $("gate-select").value);
      this.showGate();
    });
    this.app.queue.addEventListener("conflicts", () => this.showConflicts());
    window.addEventListener("languagechange-muster", () => {
      this.showGate();
      this.showLast();
      this.showConflicts();
      this.showInside();
    });
    this.showGate();
    this.showConflicts();
  }

  focusWedge() {
    if ($("view-scan").classList.contains("hidden")) return;
    const active = document.activeElement;
    if (active && active !== document.body && active.matches("input, select, textarea")) return;
    $("wedge").focus({ preventScroll: true });
  }

  setDirection(direction) {
    this.direction = direction;
    for (const button of $("direction").querySelectorAll("button")) {
      const on = button.dataset.direction === direction;
      button.classList.toggle("on", on);
      button.setAttribute("aria-checked", String(on));
    }
    this.focusWedge();
  }

  /** The gate this phone scans at: its paired gate, or the one chosen here. */
  gate() {
    const book = this.app.book;
    const id = this.app.device.gate?.id ?? localStorage.getItem("muster.gate");
    if (id == null || id === "") return null;
    return book.gates.get(String(id)) || (this.app.device.gate && String(this.app.device.gate.id) === String(id) ? this.app.device.gate : null);
  }

  showGate() {
    const book = this.app.book;
    const paired = this.app.device.gate;
    const select = $("gate-select");
    $("gate-choice").classList.toggle("hidden", Boolean(paired));
    if (!paired) {
      const chosen = localStorage.getItem("muster.gate") || "";
      select.replaceChildren(new Option(t("scan.gate.choose"), ""));
      for (const gate of book.gates.values()) select.add(new Option(gate.name, gate.id, false, String(gate.id) === chosen));
    }
    const gate = this.gate();
    $("gate-name").textContent = gate ? `${t("scan.gate")}: ${gate.name}` : "";
    this.showInside();
  }

  /** Scans are handled one at a time, in the order they were read. */
  enqueue(text) {
    this.busy = this.busy.then(() => this.scan(text)).catch((error) => console.error(error));
    return this.busy;
  }

  async scan(text) {
    const secret = String(text || "").trim().toUpperCase();
    if (!secret) return;
    $("camera-message").textContent = "";
    const gate = this.gate();
    if (!gate) {
      this.showAnswer({ ok: false, reasonText: t("scan.gate.choose") });
      return;
    }
    const scan = {
      nonce: newNonce(),
      secret,
      gate: gate.id,
      direction: this.direction,
      scanned_at: new Date().toISOString(),
    };
    const before = this.app.book.seen.get(String(ticketIdOf(secret, this.app.book)));
    let answer = null;
    if (this.app.connection.online !== false) answer = await this.#online(scan, gate);
    if (!answer) answer = await this.#offline(scan, gate);
    if (!answer) return;
    if (answer.ok) {
      this.last = {
        nonce: scan.nonce,
        ticketId: answer.ticketId,
        name: answer.name,
        ok: true,
        direction: scan.direction,
        zoneBefore: before ? before.zone : null,
        wasCheckedIn: Boolean(before && before.checkedIn),
      };
    } else {
      this.last = { nonce: scan.nonce, ticketId: answer.ticketId, name: answer.name, ok: false, reason: answer.reason };
    }
    this.showAnswer(answer);
    this.showLast();
  }

  async #online(scan, gate) {
    try {
      const reply = await this.app.api.post(`/api/v1/events/${this.eventId}/scans`, scan, {
        timeoutMs: ONLINE_SCAN_TIMEOUT_MS,
      });
      this.app.connection.set(true);
      const ok = reply.status === "ok";
      const ticketId = reply.ticket ? reply.ticket.id : null;
      if (ok) await this.app.book.record(ticketId, zoneAfter(gate, scan.direction));
      return { ok, reason: reply.reason, ticketId, name: reply.ticket ? reply.ticket.holder_name : "", online: true };
    } catch (error) {
      if (isRetryable(error)) {
        // No answer, a sick server (5xx, 503) or a timeout: all alike.
        this.app.connection.set(false);
        return null; // decide here, with the same nonce
      }
      if (error instanceof ApiError && error.status === 401) this.app.revoked();
      return { ok: false, reasonText: error.message, online: true };
    }
  }

  async #offline(scan, gate) {
    const book = this.app.book;
    if (!book.ready) return { ok: false, reasonText: t("scan.not_ready") };
    const decision = await book.decide(scan.secret, gate.id, scan.direction, new Date(scan.scanned_at));
    await this.app.queue.add({
      ...scan,
      local_ok: decision.ok,
      local_reason: decision.reason,
      ticket: decision.ticketId,
      zone_after: decision.ok ? decision.zoneAfter : null,
    });
    if (decision.ok) await book.record(decision.ticketId, decision.zoneAfter);
    return {
      ok: decision.ok,
      reason: decision.reason,
      ticketId: decision.ticketId,
      name: decision.ticketId ? `#${decision.ticketId}` : "",
      offline: true,
    };
  }

  showAnswer(answer) {
    const box = $("answer");
    box.classList.remove("hidden", "ok", "bad");
    box.classList.add(answer.ok ? "ok" : "bad");
    box.dataset.status = answer.ok ? "ok" : "error";
    box.dataset.reason = answer.reason || "";
    $("answer-mark").textContent = answer.ok ? "✓" : "✕";
    const word = answer.ok ? t(this.direction === "out" ? "scan.ok.out" : "scan.ok.in") : t("scan.refused");
    $("answer-word").textContent = word;
    $("answer-reason").textContent = answer.ok ? "" : answer.reasonText || t(`reason.${answer.reason}`);
    $("answer-name").textContent = answer.name || "";
    $("answer-note").textContent = answer.offline ? t("scan.offline_answer") : "";
    signal(answer.ok);
    clearTimeout(this.answerTimer);
    this.answerTimer = setTimeout(() => this.hideAnswer(), answer.ok ? ANSWER_OK_MS : ANSWER_BAD_MS);
  }

  hideAnswer() {
    clearTimeout(this.answerTimer);
    $("answer").classList.add("hidden");
    this.focusWedge();
  }

  showLast() {
    const last = this.last;
    $("last-scan").classList.toggle("hidden", !last);
    if (!last) return;
    const result = last.ok ? t(last.direction === "out" ? "scan.ok.out" : "scan.ok.in") : t(`reason.${last.reason}`);
    $("last-text").textContent = t("scan.last", { name: last.name || "—", result });
    $("undo").classList.toggle("hidden", !last.ok);
  }

  /** Undo the last accepted scan: drop it from the queue, or annul it on the server. */
  async undo() {
    const last = this.last;
    if (!last || !last.ok) return;
    const queued = (await this.app.queue.pending()).some((s) => s.nonce === last.nonce);
    let zone = last.zoneBefore;
    try {
      if (queued) {
        await this.app.queue.drop(last.nonce);
      } else {
        const path = `/api/v1/events/${this.eventId}/scans/${encodeURIComponent(last.nonce)}/annul`;
        const answer = await this.app.api.post(path, {}, { timeoutMs: 5000 });
        if (answer.ticket) zone = answer.ticket.zone ?? null;
      }
    } catch (error) {
      const message = isRetryable(error) ? t("status.offline") : error.message;
      $("camera-message").textContent = t("scan.undo.failed", { message });
      return;
    }
    await this.app.book.moved(last.ticketId, zone, last.wasCheckedIn);
    this.last = null;
    this.showLast();
    $("camera-message").textContent = t("scan.undone");
    this.focusWedge();
  }

  async toggleCamera() {
    const button = $("camera-toggle");
    const video = $("scan-video");
    if (this.stopCamera) {
      this.stopCamera();
      this.stopCamera = null;
      video.classList.add("hidden");
      button.textContent = t("scan.camera.start");
      button.dataset.i18n = "scan.camera.start";
      return;
    }
    $("camera-message").textContent = "";
    video.classList.remove("hidden");
    try {
      this.stopCamera = await startCamera(video, (text) => this.enqueue(text));
      button.textContent = t("scan.camera.stop");
      button.dataset.i18n = "scan.camera.stop";
    } catch (error) {
      video.classList.add("hidden");
      $("camera-message").textContent = t("scan.camera.unavailable", { message: error.message || error.name });
    }
  }

  async lookup(query) {
    const list = $("lookup-results");
    list.replaceChildren();
    const q = query.trim();
    if (!q) return;
    let found;
    try {
      found = await this.app.api.get(`/api/v1/events/${this.eventId}/tickets?q=${encodeURIComponent(q)}&limit=20`, {
        timeoutMs: 5000,
      });
    } catch (error) {
      if (isRetryable(error)) this.app.connection.set(false);
      list.append(item(isRetryable(error) ? t("scan.lookup.offline") : error.message));
      return;
    }
    if (!found.tickets.length) list.append(item(t("scan.lookup.none")));
    for (const ticket of found.tickets) {
      const zone = ticket.zone != null ? this.app.book.zones.get(String(ticket.zone)) : null;
      const note = ticket.status === "revoked" ? t("reason.revoked") : zone ? zone.name : ticket.code;
      const li = item(ticket.holder_name, `${ticket.holder_email || ""} · ${note}`);
      if (ticket.secret && ticket.status !== "revoked") {
        const admit = document.createElement("button");
        admit.type = "button";
        admit.className = "primary";
        admit.textContent = t(this.direction === "out" ? "scan.out" : "scan.lookup.admit");
        admit.addEventListener("click", () => this.enqueue(ticket.secret));
        const actions = document.createElement("div");
        actions.className = "actions";
        actions.append(admit);
        li.append(actions);
      }
      list.append(li);
    }
  }

  async showConflicts() {
    const conflicts = await this.app.queue.conflicts();
    $("conflicts").classList.toggle("hidden", conflicts.length === 0);
    $("conflicts-title").textContent = t("scan.conflicts", { n: conflicts.length });
    $("conflict-list").replaceChildren(
      ...conflicts.map((c) => {
        const li = document.createElement("li");
        const reason = t(`reason.${c.reason}`);
        const time = new Date(c.scanned_at).toLocaleTimeString();
        li.textContent = t("scan.conflict.line", { name: c.holder || `#${c.ticket}`, reason, time });
        return li;
      }),
    );
  }

  /** The `headcount` topic: show how many are inside the zone this gate leads to. */
  headcount(data) {
    this.inside = data;
    this.showInside();
  }

  showInside() {
    const gate = this.gate();
    const zones = this.inside && this.inside.zones;
    const zone = gate && zones ? zones.find((z) => String(z.id) === String(gate.to_zone)) : null;
    $("inside").textContent = zone ? t("scan.inside", { zone: zone.name, n: zone.inside }) : "";
  }
}

function ticketIdOf(secret, book) {
  // For undo: where the holder was before. Parsing is cheap; an unreadable
  // secret has no ticket.
  try {
    return book.ticketIdOf(secret);
  } catch {
    return null;
  }
}

function item(title, detail) {
  const li = document.createElement("li");
  const what = document.createElement("div");
  what.className = "what";
  const strong = document.createElement("strong");
  strong.textContent = title;
  what.append(strong);
  if (detail) {
    const span = document.createElement("span");
    span.className = "muted";
    span.textContent = detail;
    what.append(span);
  }
  li.append(what);
  return li;
}
