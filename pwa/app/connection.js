// Is the server reachable? Decided by asking it, not by navigator.onLine:
// that only says a network interface is up, and a venue's Wi-Fi is often
// "up" with nothing behind it. A probe is GET /healthz with a short timeout.
//
// The queue is flushed on open, on focus, on the `online` event and on a
// timer; a failed request anywhere also marks the phone offline at once.

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
      const response = await fetch(`/healthz?t=${Date.now()}`, { cache: "no-store", signal: controller.signal });
      reachable = response.ok;
    } catch {
      reachable = false;
    } finally {
      clearTimeout(timer);
    }
    this.set(reachable);
    return reachable;
  }

  /** Record what a request just learned (a network error means offline). */
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
    this.timer = setInterval(wake, PROBE_EVERY_MS);
    return this.probe();
  }
}

/** True when an error means "no answer from the server" (not a refusal). */
export function isNetworkError(error) {
  return !(error && typeof error.status === "number");
}
