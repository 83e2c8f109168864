// The offline queue of scans, on the shared outbox (pwa/shared/outbox.js).
//
// Each queued scan is what the server's /scans/sync takes (secret, gate,
// direction, nonce, scanned_at) plus what this phone decided (local_ok,
// local_reason) and, for display, the holder and ticket. The server replays
// a batch in scan-time order; a second admission of one ticket (two
// offline doors, a copied code), and any scan where the server's verdict
// differs from what the door did, comes back marked as a conflict, which is
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
    // Nonces whose online request is still out (verdict.js): not synced meanwhile.
    this.asking = new Set();
    this.outbox = new Outbox({
      store,
      name: "scans",
      timeOf: (scan) => scan.scanned_at,
      batchSize: BATCH,
      send: (batch) => this.#sync(batch),
      waiting: (scan) => this.asking.has(scan.nonce),
    });
    this.outbox.addEventListener("change", () => this.#changed());
    // Send everything queued; resolves to the number sent. Retryable failures propagate.
    this.flush = () => this.outbox.flush();
  }

  /** The scan's own request is out: keep it from the sync until ``settled``. */
  asked(nonce) {
    this.asking.add(nonce);
  }

  settled(nonce) {
    if (this.asking.delete(nonce)) this.#changed();
  }

  /** How many scans wait to be sent (not those whose own request is still out). */
  async length() {
    if (this.asking.size === 0) return this.outbox.count();
    return (await this.outbox.pending()).filter((scan) => !this.asking.has(scan.nonce)).length;
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

  /** Keep conflicts to show until read (scans', and walk-ins': walkin.js). */
  async addConflicts(conflicts) {
    if (!conflicts.length) return;
    const kept = await this.conflicts();
    await store.put("kv", [...kept, ...conflicts].slice(-200), "conflicts");
    this.dispatchEvent(new CustomEvent("conflicts", { detail: conflicts }));
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
    await this.addConflicts(conflicts);
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
    local_reason: scan.local_ok ? null : scan.local_reason || null,
  };
}

/**
 * What a conflict was: "twice" (this door let in a holder another door had
 * admitted), "door_admitted" (this door let them in, the server refused:
 * ``reason``) or "door_refused" (this door turned them away, the server
 * would have let them in).
 */
export function conflictKind(localOk, reason) {
  if (!localOk) return "door_refused";
  return reason === "already_inside" ? "twice" : "door_admitted";
}

function conflictRecord(scan, result) {
  return {
    nonce: scan.nonce,
    ticket: result.ticket?.id ?? scan.ticket,
    holder: result.ticket?.holder_name || scan.holder || "",
    kind: conflictKind(scan.local_ok, result.reason),
    reason: result.reason || null,
    scanned_at: scan.scanned_at,
    conflict_with: result.conflict_with ?? null,
  };
}
