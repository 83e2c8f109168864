// The offline queue of scans, and sending it to the server.
//
// Each queued scan is what the server's /scans/sync takes (secret, gate,
// direction, nonce, scanned_at) plus what this phone decided (local_ok,
// local_reason) and, for display, the holder and ticket. The server replays
// a batch in scan-time order; a second admission of one ticket (two
// offline doors, a copied code) comes back marked as a conflict, which is
// kept here to be shown until someone has read it.

import { ApiError } from "/shared/api.js";
import * as store from "./store.js";
import { oneAtATime } from "./once.js";

const BATCH = 500;

export class ScanQueue extends EventTarget {
  constructor(api, eventId) {
    super();
    this.api = api;
    this.eventId = eventId;
    // Send everything queued; resolves to the number sent. Network errors propagate.
    this.flush = oneAtATime(() => this.#send());
  }

  length() {
    return store.count("scans");
  }

  pending() {
    return store.all("scans");
  }

  async add(scan) {
    await store.put("scans", scan);
    this.#changed();
  }

  async drop(nonce) {
    await store.remove("scans", nonce);
    this.#changed();
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


  async #send() {
    let sent = 0;
    for (;;) {
      const queued = (await store.all("scans")).sort((a, b) => a.scanned_at.localeCompare(b.scanned_at));
      if (!queued.length) break;
      const batch = queued.slice(0, BATCH);
      const answer = await this.api.post(
        `/api/v1/events/${this.eventId}/scans/sync`,
        { scans: batch.map(wireScan) },
        { timeoutMs: 30000 },
      );
      const results = new Map((answer.results || []).map((r) => [r.nonce, r]));
      const conflicts = [];
      for (const scan of batch) {
        const result = results.get(scan.nonce);
        if (!result) continue; // not answered: stays queued, resent next time
        if (result.conflict) conflicts.push(conflictRecord(scan, result));
        await store.remove("scans", scan.nonce);
        sent += 1;
      }
      if (conflicts.length) {
        const kept = await this.conflicts();
        await store.put("kv", [...kept, ...conflicts].slice(-200), "conflicts");
        this.dispatchEvent(new CustomEvent("conflicts", { detail: conflicts }));
      }
      this.#changed();
      if (results.size === 0) throw new ApiError(500, "sync_unanswered", "The server answered no scan.");
    }
    return sent;
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

/** A nonce: crypto.randomUUID where there is one (secure contexts), else 128 random bits. */
export function newNonce() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
