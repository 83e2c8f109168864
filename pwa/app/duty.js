// Time on duty, from the phone of a person on the roster (a phone paired
// with a code the organiser made for them): who holds it, and one button to
// start or end their shift. Each tap is stored first (the shared outbox,
// with the time it happened) and sent after, so a phone with no network
// still records when the shift began; the server dates it then
// (server/features/staff.py record_duty: at most 24 hours back). Sending a tap twice
// is harmless there: a second start at the same instant moves nothing, a
// second end finds no shift running. A shift that starts, moves or ends
// changes where the phone stands, which its live socket was told at hello:
// so the socket is dropped and opened again (see REOPEN_AFTER_MS).

import { errorText, teamName } from "/shared/codes.js";
import { addStrings, t } from "/shared/i18n.js";
import { Outbox, isRetryable, newNonce } from "/shared/outbox.js";
import { DUTY_STRINGS } from "./duty_strings.js";
import * as store from "./store.js";

addStrings(DUTY_STRINGS);

const $ = (id) => document.getElementById(id);
/**
 * The hub reads the phone's roster facts (its zone, from the running shift)
 * at the socket's hello, and may reuse an event's facts for
 * HELLO_FACTS_SECONDS (server/features/broadcasts.py, 5 s) across processes. A socket
 * opened again at once could get the facts from before the shift changed and
 * keep them until its next reconnect; one opened after this long cannot. The
 * old socket serves meanwhile, and the new one resumes from its positions,
 * its snapshot reading the broadcasts afresh over HTTP.
 */
const REOPEN_AFTER_MS = 6000;

export class Duty {
  constructor(app) {
    this.app = app;
    /** The roster member holding this phone (GET /devices/me "staff"), or null. */
    this.member = null;
    this.outbox = new Outbox({ store, name: "duty", timeOf: (tap) => tap.at, send: ([tap]) => this.#send(tap) });
    this.reopenTimer = null;
  }

  async mount() {
    this.member = (await store.get("kv", "staff")) || null;
    const box = document.createElement("div");
    box.id = "duty";
    box.className = "duty hidden";
    $("device-facts").before(box);
    window.addEventListener("languagechange-muster", () => this.render());
    await this.render();
  }

  /** Ask the server who holds the phone and whether their shift runs. */
  async refresh() {
    try {
      const me = await this.app.api.get("/api/v1/devices/me", { timeoutMs: 8000 });
      this.member = me.staff || null;
      await store.put("kv", this.member, "staff");
    } catch (error) {
      if (isRetryable(error)) return;
    }
    await this.render();
  }

  /** On duty as this phone knows it: its last tap not yet sent, else the server's word. */
  async onDuty() {
    const pending = await this.outbox.pending();
    if (pending.length) return pending[pending.length - 1].action === "start";
    return Boolean(this.member && this.member.on_duty);
  }

  async render() {
    const box = $("duty");
    if (!box) return;
    box.classList.toggle("hidden", !this.member);
    if (!this.member) return;
    const on = await this.onDuty();
    const waiting = (await this.outbox.count()) > 0;
    const who = document.createElement("p");
    who.className = "duty-who";
    const team = teamName(this.member.team);
    who.textContent = [this.member.name, team, this.member.supervisor ? t("duty.supervisor") : ""].filter(Boolean).join(" · ");
    const state = document.createElement("p");
    state.id = "duty-state";
    state.className = `duty-state ${on ? "on" : "off"}`;
    state.dataset.onDuty = String(on);
    state.textContent = t(on ? "duty.on" : "duty.off") + (waiting ? ` ${t("duty.waiting")}` : "");
    const button = document.createElement("button");
    button.type = "button";
    button.id = "duty-toggle";
    button.className = `big ${on ? "" : "primary"}`;
    button.textContent = t(on ? "duty.end" : "duty.start");
    button.onclick = () => this.tap(on ? "end" : "start");
    const message = document.createElement("p");
    message.id = "duty-message";
    message.className = "message";
    box.replaceChildren(who, state, button, message);
  }

  async tap(action) {
    await this.outbox.add({ nonce: newNonce(), action, at: new Date().toISOString() });
    this.app.queueChanged();
    await this.render();
    if (this.app.connection.online) {
      try {
        await this.flush();
      } catch (error) {
        if (isRetryable(error)) this.app.connection.set(false);
      }
    }
  }

  pendingCount() {
    return this.outbox.count();
  }

  /** Send every tap queued; retryable failures propagate (the app's flush loop retries). */
  async flush() {
    try {
      return await this.outbox.flush();
    } finally {
      this.app.queueChanged();
      await this.render();
    }
  }

  async #send(tap) {
    let answer;
    try {
      answer = await this.app.api.post("/api/v1/devices/me/duty", { action: tap.action, at: tap.at }, { timeoutMs: 8000 });
    } catch (error) {
      if (isRetryable(error)) throw error;
      if (error.status === 401) this.app.revoked();
      const message = $("duty-message");
      if (message) {
        message.textContent = errorText(error);
        message.className = "message bad";
      }
      return [tap.nonce];
    }
    if (answer && answer.member && this.member) {
      this.member = { ...this.member, on_duty: answer.on_duty, duty: answer.shift };
      await store.put("kv", this.member, "staff");
      this.#reopenLive();
    }
    return [tap.nonce];
  }

  /** Drop the live socket a little later (REOPEN_AFTER_MS); it reconnects with its backoff. */
  #reopenLive() {
    clearTimeout(this.reopenTimer);
    this.reopenTimer = setTimeout(() => this.app.live?.drop(), REOPEN_AFTER_MS);
  }
}
