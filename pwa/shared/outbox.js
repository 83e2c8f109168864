// The one offline outbox: what a page recorded and the server has not yet
// taken (scans, incident reports, stock movements), kept in IndexedDB and
// sent when the server is healthy.
//
// Every record carries a client-made nonce; the server deduplicates on it,
// so sending a record twice (a timeout whose request did arrive, a reload
// mid-flush) writes it once. Records go oldest first, in batches of
// ``batchSize``, one flush at a time.
//
// What to do with the server's answer is the queue's own business: its
// ``send(batch)`` returns the nonces the server has taken for good (answered
// or refused for good); those leave the outbox. A record the server refused
// but a person should still see can be kept with ``hold(nonce, why)``: it
// stays, is shown, and is not sent again. A failure that means "no answer,
// or a sick server" (``isRetryable``) ends the flush and propagates; the
// records stay for the next flush.

import { ApiError } from "./api.js";
import { oneAtATime } from "./once.js";

/**
 * True when an error means the server did not answer, or answered that it
 * cannot now: no network, a timeout, 5xx (503 included), 408, 429, or a
 * clash it asks us to send again (code "retry"). A door phone treats all of
 * them alike (decide locally, queue, send later); anything else is the
 * server's considered answer.
 */
export function isRetryable(error) {
  if (!(error instanceof ApiError)) return true;
  return error.status >= 500 || error.status === 408 || error.status === 429 || error.code === "retry";
}

/** A nonce: crypto.randomUUID where there is one (secure contexts), else 128 random bits. */
export function newNonce() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Outbox extends EventTarget {
  /**
   * @param {object} options
   * @param {object} options.store the page's IndexedDB helpers (get, all, put, remove, count by store name)
   * @param {string} options.name the object store, keyed by nonce
   * @param {(record: object) => string} options.timeOf when a record was made (ISO text), for the order
   * @param {(batch: object[]) => Promise<string[]>} options.send sends a batch; the nonces taken
   * @param {number} [options.batchSize]
   * @param {(record: object) => boolean} [options.waiting] true for a record not to send yet
   *   (its own request is still out): it stays for a later flush
   */
  constructor({ store, name, timeOf, send, batchSize = 1, waiting = () => false }) {
    super();
    this.waiting = waiting;
    this.store = store;
    this.name = name;
    this.timeOf = timeOf;
    this.send = send;
    this.batchSize = batchSize;
    // Send everything waiting; resolves to the number taken. Retryable failures propagate.
    this.flush = oneAtATime(() => this.#sendAll());
  }

  /** Every record, held ones included, oldest first. */
  async pending() {
    const records = await this.store.all(this.name);
    return records.sort((a, b) => this.timeOf(a).localeCompare(this.timeOf(b)));
  }

  /** How many records wait (held ones included). */
  count() {
    return this.store.count(this.name);
  }

  get(nonce) {
    return this.store.get(this.name, nonce);
  }

  async add(record) {
    if (!record.nonce) throw new Error("an outbox record needs a nonce");
    await this.store.put(this.name, record);
    this.#changed();
  }

  async drop(nonce) {
    await this.store.remove(this.name, nonce);
    this.#changed();
  }

  /** Keep a record the server refused for good, with why, and stop sending it. */
  async hold(nonce, why) {
    const record = await this.get(nonce);
    if (!record) return;
    await this.store.put(this.name, { ...record, held: why || true });
    this.#changed();
  }

  #changed() {
    this.dispatchEvent(new Event("change"));
  }

  async #sendAll() {
    let taken = 0;
    const tried = new Set();
    for (;;) {
      const ready = (await this.pending()).filter((r) => !r.held && !tried.has(r.nonce) && !this.waiting(r));
      if (!ready.length) break;
      const batch = ready.slice(0, this.batchSize);
      for (const record of batch) tried.add(record.nonce);
      const done = await this.send(batch);
      for (const nonce of done) await this.store.remove(this.name, nonce);
      taken += done.length;
      this.#changed();
    }
    return taken;
  }
}
