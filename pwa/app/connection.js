// Is the server reachable and well? Decided by asking it, not by
// navigator.onLine: that only says a network interface is up, and a venue's
// Wi-Fi is often "up" with nothing behind it. A probe is GET /readyz with a
// short timeout: a server whose database is down answers 503 there, and the
// phone stays "offline" (deciding locally, queueing) until it is ready again.
//
// The queue is flushed on open, on focus, on the `online` event and on a
// timer; a request anywhere that gets no answer, a 5xx or a timeout
// (pwa/shared/outbox.js, isRetryable) also marks the phone offline at once.
// The timer's first tick is jittered, so phones opened together (a venue's
// power cut) do not probe in step ever after.

const PROBE_TIMEOUT_MS = 2500;
const PROBE_EVERY_MS = 10000;

export class Connection extends EventTarget {
  constructor() {
    super();
    this.online = null; // unknown until the first probe answers
    this.timer = null;
    this.probing = null;
  }

  /** Probe now; resolves to true when the server answered. */
  probe() {
    if (!this.probing) {
      this.probing = this.#ask().finally(() => {
        this.probing = null;
      });
    }
    return this.probing;
  }

  async #ask() {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), PROBE_TIMEOUT_MS);
    let reachable = false;
    try {
      const response = await fetch(`/readyz?t=${Date.now()}`, { cache: "no-store", signal: controller.signal });
      reachable = response.ok;
    } catch {
      reachable = false;
    } finally {
      clearTimeout(timer);
    }
    this.set(reachable);
    return reachable;
  }

  /** Record what a request just learned (no answer, a 5xx or a timeout means offline). */
  set(online) {
    const changed = this.online !== online;
    this.online = online;
    if (changed) this.dispatchEvent(new CustomEvent("change", { detail: online }));
    // Every probe, changed or not, is a chance to flush.
    if (online) this.dispatchEvent(new Event("flush"));
  }

  start() {
    const wake = () => this.probe();
    window.addEventListener("online", wake);
    window.addEventListener("offline", wake);
    window.addEventListener("focus", wake);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") wake();
    });
    this.timer = setTimeout(() => {
      wake();
      this.timer = setInterval(wake, PROBE_EVERY_MS);
    }, Math.random() * PROBE_EVERY_MS);
    return this.probe();
  }
}
