// The offline queue of scans, on the shared outbox (pwa/shared/outbox.js).
//
// Each queued scan is what the server's /scans/sync takes (secret, gate,
// direction, nonce, scanned_at) plus what this phone decided (local_ok,
// local_reason) and, for display, the holder and ticket. The server replays
// a batch in scan-time order; a second admission of one ticket (two
// offline doors, a copied code) comes back marked as a conflict, which is
// kept here to be shown until someone has read it.

import { ApiError } from "/shared/api.js";
import { Outbox } from "/shared/outbox.js";
import * as store from "./store.js";

const BATCH = 500;

export class ScanQueue extends EventTarget {
  constructor(api, eventId) {
    super();
    this.api = api;
    this.eventId = eventId;
    this.outbox = new Outbox({
      store,
      name: "scans",
      timeOf: (scan) => scan.scanned_at,
      batchSize: BATCH,
      send: (batch) => this.#sync(batch),
    });
    this.outbox.addEventListener("change", () => this.#changed());
    // Send everything queued; resolves to the number sent. Retryable failures propagate.
    this.flush = () => this.outbox.flush();
  }

  length() {
    return this.outbox.count();
  }

  pending() {
    return this.outbox.pending();
  }

  add(scan) {
    return this.outbox.add(scan);
  }

  drop(nonce) {
    return this.outbox.drop(nonce);
  }

  async conflicts() {
    return (await store.get("kv", "conflicts")) || [];
  }

  async clearConflicts() {
    await store.put("kv", [], "conflicts");
    this.#changed();
  }

  #changed() {
    this.dispatchEvent(new Event("change"));
  }

  async #sync(batch) {
    const answer = await this.api.post(
      `/api/v1/events/${this.eventId}/scans/sync`,
      { scans: batch.map(wireScan) },
      { timeoutMs: 30000 },
    );
    const results = new Map((answer.results || []).map((r) => [r.nonce, r]));
    if (results.size === 0) throw new ApiError(500, "sync_unanswered", "The server answered no scan.");
    const conflicts = batch.filter((s) => results.get(s.nonce)?.conflict).map((s) => conflictRecord(s, results.get(s.nonce)));
    if (conflicts.length) {
      const kept = await this.conflicts();
      await store.put("kv", [...kept, ...conflicts].slice(-200), "conflicts");
      this.dispatchEvent(new CustomEvent("conflicts", { detail: conflicts }));
    }
    // A scan the server did not answer stays queued and goes again next time.
    return batch.filter((s) => results.has(s.nonce)).map((s) => s.nonce);
  }
}

function wireScan(scan) {
  return {
    secret: scan.secret,
    gate: scan.gate,
    direction: scan.direction,
    nonce: scan.nonce,
    scanned_at: scan.scanned_at,
    local_status: scan.local_ok ? "ok" : "error",
  };
}

function conflictRecord(scan, result) {
  return {
    nonce: scan.nonce,
    ticket: result.ticket?.id ?? scan.ticket,
    holder: result.ticket?.holder_name || scan.holder || "",
    reason: result.reason || "conflict",
    scanned_at: scan.scanned_at,
    conflict_with: result.conflict_with ?? null,
  };
}
