// One answer per scan, and a door that never waits on the network.
//
// A scan is decided on the phone at once (doorbook.js: the signature, the
// offline bundle, pwa/shared/rules.js — the copy of checkin/rules.py) while
// the same scan, same nonce, is asked of the server in parallel. The server's
// answer is shown if it comes within ANSWER_BUDGET_MS of the camera frame
// that held the code; otherwise the phone's own answer is shown. The phone's
// decision is written to the queue (pwa/shared/outbox.js) while the server
// is asked — not sent while that request is out — and dropped again when the
// server's answer is the one shown. Whatever was shown stays shown: a late
// server answer never changes the verdict on the screen.
//
// The budget: a loopback or good Wi-Fi server answers in 20-60 ms from the
// code being read; 120 ms from the frame leaves the camera's decode and the
// paint inside the 150 ms a good network must meet, and a venue Wi-Fi's
// 300 ms round trip never makes a person wait (bench/door_verdict.py).
//
// A late answer that agrees takes the scan off the queue (the server has
// it). One that disagrees is a divergence: the scan stays queued with the
// phone's verdict, and its sync comes back marked as a conflict, which the
// server raises as a "conflict" alert to the command centre
// (checkin/reconcile.py, checkin/sync.py). When the server admitted someone
// the door turned away, the phone also annuls that admission, so the count
// and the ticket follow what happened at the door.
//
// A server that lately answered later than the budget (a venue Wi-Fi's
// 300 ms round trip) is not waited for at all: the phone's own answer is
// shown at once, and the scan still asked. The phone judges by the lower
// median of the last few answers' round trips, so one slow answer changes
// nothing, and the late answers keep it current: two quick ones and the
// door waits for the server again.
//
// No answer, a timeout, a 5xx or a 503 are all the same: the phone's
// answer. A 4xx is the server's considered answer about the request (a
// phone bound to another gate, a malformed code) and is shown as a refusal.

import { isRetryable } from "/shared/outbox.js";
import { ticketIdOfCode } from "./display.js";

/** How long after a code is read the door waits for the server's answer. */
export const ANSWER_BUDGET_MS = 120;
/** How many recent answers' round trips judge whether the server can answer within the budget. */
const RECENT_ANSWERS = 3;
/** How long a scan request may take at all (and the wait when the phone cannot decide: no bundle yet). */
export const ONLINE_SCAN_TIMEOUT_MS = 3000;

/**
 * What a late server answer means for a scan whose own answer the phone
 * showed: "agree" (same verdict), "diverged" (the server refused someone
 * the door let in) or "annul" (the server admitted someone the door
 * turned away: undo it there).
 */
export function lateOutcome(shownOk, serverStatus) {
  const serverOk = serverStatus === "ok";
  if (serverOk === shownOk) return "agree";
  return serverOk ? "annul" : "diverged";
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(() => resolve(null), Math.max(0, ms)));
}

export class Verdicts extends EventTarget {
  constructor(app) {
    super();
    this.app = app;
    this.budgetMs = ANSWER_BUDGET_MS;
    // The last few answered scan requests' round trips, ms (a timeout or a
    // network error marks the phone offline instead: connection.js).
    this.roundTrips = [];
  }

  /** What the server's next answer should take: the lower median of the recent round trips (0 before any). */
  expectedAnswerMs() {
    if (!this.roundTrips.length) return 0;
    const sorted = [...this.roundTrips].sort((a, b) => a - b);
    return sorted[Math.floor((sorted.length - 1) / 2)];
  }

  #answered(sentAt) {
    this.roundTrips.push(performance.now() - sentAt);
    if (this.roundTrips.length > RECENT_ANSWERS) this.roundTrips.shift();
  }

  get base() {
    return `/api/v1/events/${this.app.eventId}/scans`;
  }

  /**
   * Ask the server; resolves to {reply} or {error}, never rejects. An answer
   * marks the phone online (which flushes the queues) only once it has been
   * dealt with: a late answer first takes its scan off the queue.
   */
  ask(scan) {
    this.app.queue.asked(scan.nonce);
    const sentAt = performance.now();
    return this.app.api.post(this.base, scan, { timeoutMs: ONLINE_SCAN_TIMEOUT_MS }).then(
      (reply) => {
        this.#answered(sentAt);
        return { reply };
      },
      (error) => {
        // No answer, a sick server (5xx, 503) or a timeout: all alike.
        if (isRetryable(error)) this.app.connection.set(false);
        else this.#answered(sentAt); // a 4xx is an answer
        return { error };
      },
    );
  }

  /**
   * The one answer for ``scan`` at ``gate``, read at ``readAt``
   * (performance.now() time). Resolves to {source: "server" | "phone" |
   * "request", ok, reason, reply?, decision?, asking}; ``asking`` is the
   * server request (null when the phone knew it was offline).
   */
  async decide(scan, gate, readAt) {
    const asking = this.app.connection.online === false ? null : this.ask(scan);
    // A typed printed code proves nothing on its own: only the server, which
    // knows whose code it is, can answer it (it waits up to the timeout) —
    // or a door supervisor's phone, which holds the event's people.
    const typedCode = ticketIdOfCode(scan.secret) !== null && !this.app.book.personOfCode(scan.secret);
    // The phone's own decision, written to the queue, while the server is asked:
    // when it is needed it is ready, and already kept.
    const local = this.app.book.ready && !typedCode ? this.#decideAndKeep(scan, gate) : null;
    // When each side was ready (performance.now()): the door's timings (scanner.js).
    const times = { localAt: null, serverAt: null };
    local?.then(() => (times.localAt = performance.now()), () => {});
    asking?.then(() => (times.serverAt = performance.now()));
    if (asking) {
      const budget = (local ? this.budgetMs : ONLINE_SCAN_TIMEOUT_MS) - (performance.now() - readAt);
      // A server that lately took longer than the budget left: not waited for.
      const waiting = !local || this.expectedAnswerMs() <= budget;
      const first = waiting ? await Promise.race([asking, delay(budget)]) : null;
      const considered = first && first.error && !isRetryable(first.error);
      if (first && (first.reply || considered)) {
        // The server's answer in time: the phone's own is not needed.
        const forget = local ? local.then(() => this.app.queue.drop(scan.nonce)) : Promise.resolve();
        forget.finally(() => this.#settled(scan));
        if (considered) return { source: "request", ok: false, error: first.error, asking, times };
        this.app.connection.set(true);
        return { source: "server", ok: first.reply.status === "ok", reason: first.reply.reason, reply: first.reply, asking, times };
      }
    }
    if (!local) {
      asking?.then(() => this.#settled(scan));
      return { source: "phone", ok: false, reason: null, notReady: true, typedCode, asking, times };
    }
    const decision = await local;
    const shown = { source: "phone", ok: decision.ok, reason: decision.reason, decision, asking, times };
    if (asking) asking.then((late) => this.#late(scan, shown, late));
    return shown;
  }

  /** Decide here and queue the scan with that decision (not sent while its request is out). */
  async #decideAndKeep(scan, gate) {
    const decision = await this.app.book.decide(scan.secret, gate.id, scan.direction, new Date(scan.scanned_at));
    const kept = this.app.queue.add({
      ...scan,
      local_ok: decision.ok,
      local_reason: decision.reason,
      ticket: decision.ticketId,
      zone_after: decision.ok ? decision.zoneAfter : null,
    });
    // Kept before it is shown; who it is is opened meanwhile.
    const [, who] = await Promise.all([kept, decision.who || null]);
    return { ...decision, who };
  }

  /** The server answered after the phone's own answer was shown. */
  async #late(scan, shown, late) {
    if (!late.reply) {
      this.#settled(scan); // no answer: the queued scan goes with the next sync
      return;
    }
    const outcome = lateOutcome(shown.ok, late.reply.status);
    shown.late = { outcome, reply: late.reply };
    this.dispatchEvent(new CustomEvent("late", { detail: { nonce: scan.nonce, outcome } }));
    if (outcome === "agree") await this.app.queue.drop(scan.nonce);
    if (outcome === "annul") {
      try {
        await this.annul(scan.nonce);
      } catch (error) {
        console.warn("annul after a divergence", error);
      }
    }
    // A diverging scan stays queued with the phone's verdict: its sync
    // (which this starts) reports the conflict.
    this.#settled(scan);
    this.app.connection.set(true);
  }

  /** The scan's own request is over: the queue may send it now. */
  #settled(scan) {
    this.app.queue.settled(scan.nonce);
  }

  annul(nonce) {
    return this.app.api.post(`${this.base}/${encodeURIComponent(nonce)}/annul`, {}, { timeoutMs: 5000 });
  }
}
