// Walk-ins at the door, on a door supervisor's phone: register a person
// (name, phone or email, ticket type) on one of this phone's signed blank
// tickets and admit them in one step, online or with no network at all.
//
// The signing key never leaves the server, so the phone holds a few signed
// blanks of each ticket type (the offline bundle's `walk_in_blanks`, topped
// up at each sync). Registering takes one, keeps the registration in the
// `walkins` outbox with a nonce, and asks the server (POST …/walk-ins: bind
// and admit); when the server does not answer in time the phone admits the
// blank itself with the same rules as any scan (doorbook.js), and the
// outbox sends the registration later, `offline: true`, exactly once by
// its nonce. A conflict the server finds (a blank bound twice, another
// phone's) joins the door's conflict list. The person's QR is drawn here
// from the blank's module matrix, for them to photograph.
//
// checkContact is the copy of server/features/walk_in_rules.py contact_problem.

import { ApiError } from "/shared/api.js";
import { errorText } from "/shared/codes.js";
import { addStrings, language, t } from "/shared/i18n.js";
import { Outbox, isRetryable, newNonce } from "/shared/outbox.js";
import { zoneAfter } from "./doorbook.js";
import { conflictKind } from "./scanqueue.js";
import * as store from "./store.js";
import { WALKIN_STRINGS } from "./walkin_strings.js";

addStrings(WALKIN_STRINGS);

/** How long the phone waits for the server before it admits on its own. */
export const WALKIN_BUDGET_MS = 4000;

const $ = (id) => document.getElementById(id);

/** What is wrong with a walk-in's person (an error code), or null: server/features/walk_in_rules.py. */
export function checkContact(name, email, phone) {
  if (!String(name || "").trim()) return "name_empty";
  const mail = String(email || "").trim();
  const number = String(phone || "").trim();
  if (!mail && !number) return "contact_required";
  if (mail && (!mail.includes("@") || mail.includes(" "))) return "email_invalid";
  if (number && !/\d/.test(number)) return "phone_invalid";
  return null;
}

/** Draw a QR module matrix (server/features/walk_in_rules.py qr_bits) on a canvas. */
export function drawQr(canvas, qr) {
  const size = qr.size;
  const bits = Uint8Array.from(atob(qr.bits), (c) => c.charCodeAt(0));
  const scale = Math.max(1, Math.floor(canvas.width / size));
  canvas.width = canvas.height = size * scale;
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.fillStyle = "#000";
  for (let i = 0; i < size * size; i += 1) {
    if (bits[i >> 3] & (0x80 >> (i & 7))) context.fillRect((i % size) * scale, Math.floor(i / size) * scale, scale, scale);
  }
}

export class WalkIns {
  constructor(app) {
    this.app = app;
    this.blanks = [];
    // Blanks bound here whose registration the server may not have yet.
    this.used = new Set();
    // Nonces whose online request is still out: not sent by the outbox meanwhile.
    this.asking = new Set();
    this.outbox = new Outbox({
      store,
      name: "walkins",
      timeOf: (record) => record.registered_at,
      send: (batch) => this.#send(batch),
      waiting: (record) => this.asking.has(record.nonce),
    });
    this.outbox.addEventListener("change", () => this.app.queueChanged());
    this.flush = () => this.outbox.flush();
  }

  get eventId() {
    return this.app.eventId;
  }

  async restore() {
    this.blanks = (await store.get("kv", "walk_in_blanks")) || [];
    this.used = new Set((await store.get("kv", "walk_in_used")) || []);
  }

  /** The bundle's blanks (all this phone holds unbound, as the server knows). */
  async takeBlanks(blanks) {
    this.blanks = blanks || [];
    const known = new Set(this.blanks.map((b) => String(b.ticket)));
    // Once the server has a registration its blank leaves the list: forget it here too.
    this.used = new Set([...this.used].filter((id) => known.has(id)));
    await store.put("kv", this.blanks, "walk_in_blanks");
    await store.put("kv", [...this.used], "walk_in_used");
    this.render();
  }

  available(typeId = null) {
    return this.blanks.filter((b) => !this.used.has(String(b.ticket)) && (typeId === null || String(b.type) === String(typeId)));
  }

  pendingCount() {
    return this.outbox.count();
  }

  mount() {
    $("walkin-open").addEventListener("click", () => this.openForm());
    $("walkin-cancel").addEventListener("click", () => this.closeForm());
    $("walkin-done").addEventListener("click", () => $("walkin-ticket").classList.add("hidden"));
    $("walkin-email").addEventListener("input", () => this.#mailChoice());
    $("walkin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    window.addEventListener("languagechange-muster", () => this.render());
    this.render();
  }

  /** Shown on a phone that holds blanks (a door supervisor's). */
  render() {
    const shown = this.blanks.length > 0;
    $("walkin").classList.toggle("hidden", !shown);
    if (!shown) return;
    const select = $("walkin-type");
    const chosen = select.value;
    const types = [...this.app.book.types.values()].filter((type) => this.blanks.some((b) => String(b.type) === String(type.id)));
    select.replaceChildren(...types.map((type) => new Option(type.name, type.id, false, String(type.id) === chosen)));
    this.#left();
  }

  #left() {
    const typeId = $("walkin-type").value || null;
    $("walkin-left").textContent = t("walkin.left", { n: this.available(typeId).length });
  }

  #mailChoice() {
    const hasEmail = Boolean($("walkin-email").value.trim());
    $("walkin-mail-choice").classList.toggle("hidden", !hasEmail);
  }

  openForm() {
    $("walkin-form").classList.remove("hidden");
    $("walkin-open").classList.add("hidden");
    $("walkin-ticket").classList.add("hidden");
    this.#message("");
    this.#mailChoice();
    this.render();
    $("walkin-name").focus();
  }

  closeForm() {
    $("walkin-form").reset();
    $("walkin-form").classList.add("hidden");
    $("walkin-open").classList.remove("hidden");
    this.#message("");
    this.app.scanner.focusWedge();
  }

  #message(text, tone = "") {
    $("walkin-message").textContent = text;
    $("walkin-message").className = `message ${tone}`;
  }

  /** The form's person, registered on a blank and admitted. */
  async submit() {
    const name = $("walkin-name").value.trim();
    const phone = $("walkin-phone").value.trim();
    const email = $("walkin-email").value.trim();
    const problem = checkContact(name, email, phone);
    if (problem) return this.#message(t(`error.${problem}`), "bad");
    const gate = this.app.scanner.gate();
    if (!gate) return this.#message(t("scan.gate.choose"), "bad");
    const [blank] = this.available($("walkin-type").value || null);
    if (!blank) return this.#message(t("walkin.no_blanks"), "bad");
    const record = {
      nonce: newNonce(),
      blank: blank.ticket,
      holder_name: name,
      holder_phone: phone,
      holder_email: email,
      language: language(),
      gate: gate.id,
      registered_at: new Date().toISOString(),
      mail: Boolean(email) && $("walkin-mail").checked,
      offline: true,
    };
    await this.register(record, blank, gate);
  }

  /**
   * Bind `blank` to the person and admit them: the server's answer within
   * WALKIN_BUDGET_MS, else this phone's own (the registration stays queued).
   */
  async register(record, blank, gate) {
    this.used.add(String(blank.ticket));
    await store.put("kv", [...this.used], "walk_in_used");
    this.asking.add(record.nonce);
    await this.outbox.add(record); // kept before anything is asked: a reload loses nothing
    let reply = null;
    let failure = null;
    try {
      if (this.app.connection.online === false) throw new TypeError("offline");
      reply = await this.app.api.post(`/api/v1/events/${this.eventId}/walk-ins`, { ...record, offline: false }, { timeoutMs: WALKIN_BUDGET_MS });
    } catch (error) {
      failure = error;
    } finally {
      this.asking.delete(record.nonce);
    }
    const who = { name: record.holder_name, type: this.app.book.types.get(String(blank.type))?.name || "", code: blank.code };
    const move = { direction: "in", entering: zoneAfter(gate, "in"), leaving: gate.from_zone ?? null };
    if (reply) {
      await this.outbox.drop(record.nonce);
      if (reply.walk_in.status !== "ok") {
        this.#message(t("walkin.conflict", { reason: t(`walkin.reason.${reply.walk_in.reason}`) }), "bad");
        return reply;
      }
      const scan = reply.scan || {};
      const ok = scan.status === "ok";
      if (ok) this.app.book.record(blank.ticket, move.entering, gate.id, record.registered_at).catch(console.warn);
      const shown = { ...move, ok, reason: scan.reason, ticketId: blank.ticket, who, zone: scan.ticket?.zone ?? null };
      this.app.scanner.showAnswer(shown);
      this.app.scanner.count(shown);
      this.#done(record, blank, ok, reply.walk_in.mailing != null ? "walkin.mailed" : "walkin.synced");
      return reply;
    }
    if (failure && !isRetryable(failure)) {
      // The server's considered refusal (a bad field, not a supervisor any more): nothing bound.
      await this.outbox.drop(record.nonce);
      this.used.delete(String(blank.ticket));
      await store.put("kv", [...this.used], "walk_in_used");
      if (failure instanceof ApiError && failure.status === 401) this.app.revoked();
      this.#message(errorText(failure), "bad");
      return null;
    }
    if (failure) this.app.connection.set(false);
    // No answer: admit the blank here by the door's own rules; the outbox sends it later.
    const decision = await this.app.book.decide(blank.blank_secret, gate.id, "in", new Date(record.registered_at));
    if (decision.ok) this.app.book.record(decision.ticketId, decision.zoneAfter, gate.id, record.registered_at).catch(console.warn);
    else {
      await this.outbox.drop(record.nonce);
      this.used.delete(String(blank.ticket));
      await store.put("kv", [...this.used], "walk_in_used");
    }
    const shown = { ...move, ok: decision.ok, reason: decision.reason, ticketId: blank.ticket, who, zone: decision.zoneBefore ?? null, offline: true };
    this.app.scanner.showAnswer(shown);
    this.app.scanner.count(shown);
    this.#done(record, blank, decision.ok, "walkin.queued");
    return null;
  }

  /** The form closes; on success the person's QR is shown to photograph. */
  #done(record, blank, ok, note) {
    this.closeForm();
    this.render();
    if (!ok) return;
    $("walkin-ticket-name").textContent = record.holder_name;
    $("walkin-ticket-code").textContent = blank.code;
    $("walkin-ticket-note").textContent = t(note, { email: record.holder_email });
    $("walkin-ticket").dataset.ticket = String(blank.ticket);
    $("walkin-ticket").dataset.note = note;
    drawQr($("walkin-qr"), blank.qr);
    $("walkin-ticket").classList.remove("hidden");
    // The QR is what the person needs: on screen whole, under the answer.
    $("walkin-ticket").scrollIntoView({ block: "center" });
  }

  /** The outbox's sender: one registration at a time, as a replayed offline one. */
  async #send(batch) {
    const taken = [];
    for (const record of batch) {
      let reply;
      try {
        reply = await this.app.api.post(`/api/v1/events/${this.eventId}/walk-ins`, record, { timeoutMs: 15000 });
      } catch (error) {
        if (isRetryable(error)) throw error;
        console.warn("walk-in refused", error.code);
        taken.push(record.nonce);
        continue;
      }
      const conflict = this.#conflictOf(record, reply);
      if (conflict) await this.app.queue.addConflicts([conflict]);
      taken.push(record.nonce);
    }
    return taken;
  }

  #conflictOf(record, reply) {
    const base = { nonce: record.nonce, ticket: record.blank, holder: record.holder_name, scanned_at: record.registered_at };
    if (reply.walk_in.status !== "ok") return { ...base, kind: "walk_in", reason: reply.walk_in.reason, conflict_with: reply.walk_in.conflict_with };
    const scan = reply.scan;
    if (scan && scan.conflict) return { ...base, kind: conflictKind(true, scan.reason), reason: scan.reason || null, conflict_with: scan.conflict_with ?? null };
    return null;
  }
}
