// The door scanner: camera or keyboard-wedge input, in/out, the answer on
// the whole screen, undo of the last scan, lookup by name.
//
// Each scan is decided on the phone at once and asked of the server in
// parallel, same nonce (verdict.js): the server's answer is shown when it
// comes within a short budget, the phone's own otherwise, and that one is
// queued for sync. The server replays the queue later and, because the
// nonce is the same, a scan it did receive is not counted twice.

import { ApiError } from "/shared/api.js";
import { cameraText, errorText } from "/shared/codes.js";
import { formatTime, t } from "/shared/i18n.js";
import { startCamera } from "./camera.js";
import { zoneAfter } from "./doorbook.js";
import { signal } from "./feedback.js";
import { isRetryable, newNonce } from "/shared/outbox.js";
import { describe } from "./answer.js";
import * as store from "./store.js";
import { Verdicts } from "./verdict.js";

const ANSWER_OK_MS = 1300;

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
    this.verdicts = new Verdicts(app);
    this.timings = [];
    this.counts = { scans: 0, admitted: 0 }; // this phone's, kept across reloads
    this.conflicted = new Set(); // nonces of recent scans that became conflicts
    this.deciding = 0; // scans read and not yet answered (the camera pauses meanwhile)
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
      this.enqueue(text, event.timeStamp);
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
    this.app.queue.addEventListener("conflicts", (event) => {
      this.showConflicts();
      for (const c of event.detail) this.#conflicted(c.nonce);
    });
    // A late answer that disagreed: that scan comes back as a conflict, never undone.
    this.verdicts.addEventListener("late", (event) => {
      if (event.detail.outcome !== "agree") this.#conflicted(event.detail.nonce);
    });
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
  enqueue(text, readAt = performance.now()) {
    const heardAt = performance.now();
    this.deciding += 1;
    this.busy = this.busy
      .then(() => this.scan(text, readAt, heardAt))
      .catch((error) => console.error(error))
      .finally(() => {
        this.deciding -= 1;
      });
    return this.busy;
  }

  async scan(text, readAt = performance.now(), heardAt = readAt) {
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
    const before = this.app.book.lookup(ticketIdOf(secret, this.app.book));
    const verdict = await this.verdicts.decide(scan, gate, readAt);
    const answer = await this.#answerOf(verdict, scan, gate);
    this.last = {
      nonce: scan.nonce,
      ticketId: answer.ticketId,
      name: answer.who?.name || (answer.ticketId != null ? `#${answer.ticketId}` : ""),
      ok: answer.ok,
      reason: answer.reason,
      direction: scan.direction,
      zoneBefore: before ? before.zone : null,
      wasCheckedIn: Boolean(before && before.checkedIn),
      asking: verdict.asking,
    };
    this.showAnswer(answer);
    this.#timed(scan.nonce, readAt, heardAt, verdict);
    this.showLast();
    this.count(answer);
  }

  /** What the screen shows for a verdict (and what the phone records of it). */
  async #answerOf(verdict, scan, gate) {
    const move = {
      direction: scan.direction,
      entering: zoneAfter(gate, scan.direction),
      leaving: scan.direction === "in" ? (gate.from_zone ?? null) : gate.to_zone,
    };
    if (verdict.source === "server") {
      const reply = verdict.reply;
      const ticket = reply.ticket || null;
      const ticketId = ticket ? ticket.id : null;
      const seen = ticketId !== null ? this.app.book.lookup(ticketId) : null;
      if (verdict.ok) this.app.book.record(ticketId, move.entering, gate.id, scan.scanned_at).catch(console.warn);
      return {
        ...move,
        ok: verdict.ok,
        reason: reply.reason,
        ticketId,
        who: ticket ? { name: ticket.holder_name, type: ticket.ticket_type?.name || "", code: ticket.code || "" } : null,
        zone: ticket ? (ticket.zone ?? null) : null,
        since: { at: seen?.at ?? ticket?.checked_in_at ?? null, gate: seen?.gate ?? null },
      };
    }
    if (verdict.source === "request") {
      if (verdict.error instanceof ApiError && verdict.error.status === 401) this.app.revoked();
      return { ...move, ok: false, reasonText: errorText(verdict.error) };
    }
    if (verdict.notReady) return { ...move, ok: false, reasonText: t(verdict.typedCode ? "scan.code_needs_server" : "scan.not_ready") };
    const decision = verdict.decision;
    if (decision.ok) this.app.book.record(decision.ticketId, decision.zoneAfter, gate.id, scan.scanned_at).catch(console.warn);
    return {
      ...move,
      ok: decision.ok,
      reason: decision.reason,
      ticketId: decision.ticketId,
      who: decision.who || null,
      zone: decision.zoneBefore ?? null,
      since: { at: decision.seen?.at ?? null, gate: decision.seen?.gate ?? null },
      offline: true,
    };
  }

  /**
   * Keep when each answer was shown: ``readAt`` the camera frame (or the
   * scanner's Enter), ``heardAt`` when the code reached the scanner,
   * ``shownAt`` the answer on screen, ``paintedAt`` the next frame drawn
   * (bench/door_verdict.py reads these); ``localAt`` the phone's own
   * decision kept, ``serverAt`` the server's answer (or its failure), each
   * filled in when it comes (null: none, or not yet).
   */
  #timed(nonce, readAt, heardAt, verdict) {
    const shownAt = performance.now();
    const entry = { nonce, readAt, heardAt, shownAt, paintedAt: null, source: verdict.source, times: verdict.times };
    this.timings.push(entry);
    if (this.timings.length > 1000) this.timings.shift();
    requestAnimationFrame(() => {
      entry.paintedAt = performance.now();
    });
  }

  showAnswer(answer) {
    const box = $("answer");
    box.classList.remove("hidden", "ok", "bad");
    box.classList.add(answer.ok ? "ok" : "bad");
    box.dataset.status = answer.ok ? "ok" : "error";
    box.dataset.reason = answer.reason || "";
    const lines = describe({ direction: this.direction, ...answer }, t, this.#names());
    $("answer-mark").textContent = answer.ok ? "✓" : "✕";
    $("answer-word").textContent = lines.word;
    $("answer-reason").textContent = lines.why;
    $("answer-name").textContent = lines.who;
    $("answer-detail").textContent = lines.detail;
    $("answer-note").textContent = lines.note;
    $("answer-hint").textContent = answer.ok ? "" : t("scan.tap_to_close");
    this.shown = answer;
    signal(answer.ok);
    clearTimeout(this.answerTimer);
    // Green goes by itself; red stays until the next scan or a tap.
    this.answerTimer = answer.ok ? setTimeout(() => this.hideAnswer(), ANSWER_OK_MS) : null;
  }

  /** The phone's names for zones and gates, and times in the event's zone. */
  #names() {
    const book = this.app.book;
    const timezone = this.app.device.event?.timezone;
    return {
      zone: (id) => book.zones.get(String(id))?.name ?? "",
      gate: (id) => book.gates.get(String(id))?.name ?? "",
      time: (iso) => formatTime(iso, timezone),
    };
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
    $("undo").classList.toggle("hidden", !last.ok || this.conflicted.has(last.nonce));
  }

  /** A scan turned out a conflict: nothing to undo on this phone for it any more. */
  #conflicted(nonce) {
    this.conflicted.add(nonce);
    if (this.conflicted.size > 100) this.conflicted.delete(this.conflicted.values().next().value);
    this.showLast();
  }

  /**
   * Undo the last accepted scan. A scan the server may have (its request
   * was answered, or got no answer in time) is annulled there; one it never
   * saw is dropped from the queue.
   */
  async undo() {
    const last = this.last;
    if (!last || !last.ok || this.conflicted.has(last.nonce)) return;
    let zone = last.zoneBefore;
    try {
      const late = last.asking ? await last.asking : null;
      const mayHaveLanded = late && (late.reply || !(late.error instanceof ApiError));
      let annulled = false;
      if (mayHaveLanded) {
        try {
          const answer = await this.verdicts.annul(last.nonce);
          if (answer.ticket) zone = answer.ticket.zone ?? null;
          annulled = true;
        } catch (error) {
          if (!(error instanceof ApiError && error.status === 404)) throw error;
        }
      }
      if (!annulled && !(await this.app.queue.outbox.get(last.nonce))) throw new Error(t("scan.undo.gone"));
      await this.app.queue.drop(last.nonce);
    } catch (error) {
      const message = isRetryable(error) ? t("status.offline") : errorText(error);
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
      this.stopCamera = await startCamera(video, (text, frameAt) => this.enqueue(text, frameAt), {
        paused: () => this.deciding > 0,
      });
      button.textContent = t("scan.camera.stop");
      button.dataset.i18n = "scan.camera.stop";
    } catch (error) {
      video.classList.add("hidden");
      $("camera-message").textContent = cameraText(error);
    }
  }

  async lookup(query) {
    const list = $("lookup-results");
    list.replaceChildren();
    const q = query.trim();
    if (!q) return;
    const book = this.app.book;
    let found;
    try {
      // A supervisor's phone with no network looks in its own list at once.
      if (book.knowsPeople && this.app.connection.online === false) throw new TypeError("offline");
      found = await this.app.api.get(`/api/v1/events/${this.eventId}/tickets?q=${encodeURIComponent(q)}&limit=20`, {
        timeoutMs: 5000,
      });
    } catch (error) {
      if (isRetryable(error)) this.app.connection.set(false);
      if (!isRetryable(error) || !book.knowsPeople) {
        list.append(item(isRetryable(error) ? t("scan.lookup.offline") : errorText(error)));
        this.#backToWedge();
        return;
      }
      found = { tickets: book.findPeople(q), offline: true };
      list.append(item(t("scan.lookup.from_phone")));
    }
    if (!found.tickets.length) list.append(item(t("scan.lookup.none")));
    for (const ticket of found.tickets) list.append(this.#lookupRow(ticket));
    // The next hardware-scanner read goes to the door again, not to the search.
    this.#backToWedge();
  }

  /** A search result: who, ticket type and code, inside or not, and the one move that fits. */
  #lookupRow(ticket) {
    const book = this.app.book;
    const type = book.types.get(String(ticket.ticket_type));
    const zone = ticket.zone != null ? book.zones.get(String(ticket.zone)) : null;
    const inside = ticket.zone != null;
    const li = item(ticket.holder_name, [type ? type.name : "", ticket.code].filter(Boolean).join(" · "));
    li.dataset.ticket = ticket.id;
    li.dataset.inside = String(inside);
    const state = document.createElement("span");
    state.className = `badge ${ticket.status === "revoked" ? "critical" : inside ? "inside" : "outside"}`;
    state.textContent =
      ticket.status === "revoked"
        ? t("reason.revoked")
        : inside
          ? t("scan.lookup.inside", { zone: zone ? zone.name : "" })
          : t(ticket.checked_in_at ? "scan.lookup.left" : "scan.lookup.not_in");
    li.querySelector(".what").append(state);
    // In for someone outside, out for someone inside: never "in" for a holder already in.
    const fits = this.direction === "out" ? inside : !inside;
    // The printed code admits through the server (POST /scans maps it to the
    // ticket): a door never gets another ticket's secret (server/features/rights.py).
    if (ticket.code && ticket.status !== "revoked" && fits) {
      const move = document.createElement("button");
      move.type = "button";
      move.className = "primary";
      move.dataset.action = this.direction;
      move.textContent = t(this.direction === "out" ? "scan.out" : "scan.lookup.admit");
      move.addEventListener("click", () => {
        this.enqueue(ticket.code);
        this.#backToWedge();
      });
      const actions = document.createElement("div");
      actions.className = "actions";
      actions.append(move);
      li.append(actions);
    }
    return li;
  }

  #backToWedge() {
    const active = document.activeElement;
    if (active && active !== document.body && active.id !== "wedge") active.blur();
    this.focusWedge();
  }

  async showConflicts() {
    const conflicts = await this.app.queue.conflicts();
    $("conflicts").classList.toggle("hidden", conflicts.length === 0);
    $("conflicts-title").textContent = t("scan.conflicts", { n: conflicts.length });
    $("conflict-list").replaceChildren(
      ...conflicts.map((c) => {
        const li = document.createElement("li");
        // A walk-in's conflict has a reason of its own (walkin.js).
        const reason = c.kind === "walk_in" ? t(`walkin.reason.${c.reason}`) : t(`reason.${c.reason}`);
        const time = new Date(c.scanned_at).toLocaleTimeString();
        const kind = c.kind || "twice";
        li.dataset.kind = kind;
        li.textContent = t(`scan.conflict.${kind}`, { name: c.holder || `#${c.ticket}`, reason, time });
        return li;
      }),
    );
  }

  async restoreCounts() {
    this.counts = (await store.get("kv", "my-counts")) || this.counts;
    this.showInside();
  }

  /** Count an answer in this phone's counters (a scan's, or a walk-in's: walkin.js). */
  async count(answer) {
    this.counts = {
      scans: this.counts.scans + 1,
      admitted: this.counts.admitted + (answer.ok && answer.direction === "in" ? 1 : 0),
    };
    this.showInside();
    await store.put("kv", this.counts, "my-counts");
  }

  /** The `headcount` topic: show how many are inside the zone this gate leads to. */
  headcount(data) {
    this.inside = data;
    this.showInside();
  }

  /** The counters on the door screen: this phone's scans, inside against expected, this gate's zone. */
  showInside() {
    const gate = this.gate();
    const data = this.inside;
    const zones = data && data.zones;
    const zone = gate && zones ? zones.find((z) => String(z.id) === String(gate.to_zone)) : null;
    $("inside").textContent = zone ? t("scan.inside", { zone: zone.name, n: zone.inside }) : "";
    $("count-mine").textContent = t("scan.count.mine", this.counts);
    $("count-venue").textContent = data ? t("scan.count.venue", { inside: data.inside ?? 0, expected: data.expected ?? 0 }) : "";
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
