// What a door phone knows to decide on its own when the network is gone:
// the event's public keys, the revocation list, the venue layout, and the
// "seen" set (where each admitted ticket's holder is), kept seconds old
// while online by the `admissions` and `revocations` topics.
//
// The seen set is two layers: the admitted set the server last sent whole
// (the `admissions` snapshot or a full bundle: compact, admitted.js, kept in
// IndexedDB as it came) and, over it, a record per ticket learnt since
// (live admissions, annulments, this phone's own scans, incremental bundles;
// the `seen` store). `lookup` reads the top layer first.
//
// Offline decisions run pwa/shared/rules.js (the copy of checkin/rules.py)
// on this knowledge. Zone capacity cannot be known offline: the phone
// assumes there is room, and the server settles it at sync. Who it is —
// name, ticket type, printed code — comes from the bundle's sealed display
// data, which only the scanned code opens (display.js).
//
// A door supervisor's phone (roster_rules.may_override) also gets `people`:
// each valid ticket's holder, code, type and validity in the clear, so it
// can find someone by name and admit them by their printed code with no
// network. Other phones never get it; a supervisor's drops it when a full
// bundle comes without it, and unpairing wipes it with everything else.

import { decide } from "/shared/rules.js";
import { AdmittedSet } from "./admitted.js";
import { SecretError, parseSecret, verifySecret } from "/shared/secret.js";
import { openBox, ticketCode, ticketIdOfCode } from "./display.js";
import * as store from "./store.js";

// Annulled scan ids kept to drop their late admissions: a few minutes' worth.
const ANNULLED_KEPT = 1000;

function byId(list) {
  return new Map((list || []).map((item) => [String(item.id), item]));
}

/** Where a move through `gate` in `direction` leaves the holder (null: outside). */
export function zoneAfter(gate, direction) {
  return direction === "in" ? gate.to_zone : (gate.from_zone ?? null);
}

export class DoorBook {
  constructor(eventId) {
    this.eventId = Number(eventId);
    this.keys = {};
    this.revoked = new Set();
    this.gates = new Map();
    this.zones = new Map();
    this.types = new Map();
    this.admittedSet = new AdmittedSet();
    // Learnt since the admitted set: ticket -> record ({checkedIn: false, zone: null}: not in).
    this.seen = new Map();
    /** ticket id -> {ticket, generation, name, code, type, valid_from, valid_until}: supervisors only. */
    this.people = new Map();
    // Scans annulled (the `annulments` topic): their admission, arriving late, is ignored.
    this.annulledScans = new Set();
    this.cursor = null;
    this.loadedAt = null;
  }

  get ready() {
    return Object.keys(this.keys).length > 0 && this.gates.size > 0;
  }

  /** Load what was kept from the last session. */
  async restore() {
    const saved = await store.get("kv", "bundle");
    if (saved) this.#applyLayout(saved);
    this.cursor = (await store.get("kv", "cursor")) ?? null;
    const admitted = await store.get("kv", "admitted");
    try {
      this.admittedSet = new AdmittedSet(admitted || null);
    } catch {
      this.admittedSet = new AdmittedSet(); // kept by an older app: the next snapshot replaces it
    }
    for (const record of await store.all("seen")) this.seen.set(String(record.ticket), record);
    this.people = byTicket((await store.get("kv", "people")) || []);
  }

  /** What this phone knows of a ticket: {ticket, zone, checkedIn, at?, gate?}, or null. */
  lookup(ticketId) {
    const id = String(ticketId);
    return this.seen.get(id) ?? this.admittedSet.get(id);
  }

  #applyLayout(bundle) {
    this.keys = {};
    for (const key of bundle.keys || []) this.keys[key.kid] = key.public_key;
    this.revoked = new Set((bundle.revocations || []).map((r) => `${r.ticket}:${r.generation}`));
    this.gates = byId(bundle.gates);
    this.zones = byId(bundle.zones);
    this.types = byId(bundle.ticket_types);
    this.loadedAt = bundle.loaded_at || null;
  }

  /**
   * Take an offline bundle from the server. A full one replaces what we
   * had; an incremental one (asked with ?since=) adds to it. `pending` are
   * queued scans the server has not seen yet: their effect is kept.
   */
  async applyBundle(bundle, pending = []) {
    const previous = (await store.get("kv", "bundle")) || {};
    const merged = bundle.incremental
      ? {
          ...previous,
          ...bundle,
          keys: mergeBy(previous.keys, bundle.keys, (k) => k.kid),
          revocations: mergeBy(previous.revocations, bundle.revocations, (r) => `${r.ticket}:${r.generation}`),
        }
      : { ...bundle };
    delete merged.admitted;
    delete merged.admitted_set;
    delete merged.display;
    delete merged.people;
    delete merged.walk_in_blanks; // the walk-ins' own (walkin.js)
    merged.loaded_at = new Date().toISOString();
    this.#applyLayout(merged);
    await store.put("kv", merged, "bundle");
    if (bundle.display) {
      if (!bundle.incremental) await store.clear("display");
      await store.putMany("display", bundle.display);
    }
    if (bundle.admitted_set) await this.#replaceAdmitted(bundle.admitted_set, pending);
    if (bundle.admitted) {
      // An incremental bundle: each ticket changed since, as it is now. An
      // annulled first entry comes back as "never checked in", out of the set.
      await this.#remember(
        bundle.admitted.map((a) => ({
          ticket: String(a.ticket),
          zone: a.zone ?? null,
          checkedIn: a.checked_in !== false,
          at: a.checked_in_at ?? null,
          gate: null,
        })),
      );
    }
    await this.#applyPeople(bundle);
    this.cursor = bundle.cursor ?? null;
    await store.put("kv", this.cursor, "cursor");
  }

  async #applyPeople(bundle) {
    if (!bundle.people && bundle.incremental) return;
    const fresh = byTicket(bundle.people || []);
    this.people = bundle.incremental ? new Map([...this.people, ...fresh]) : fresh;
    if (this.people.size) await store.put("kv", [...this.people.values()], "people");
    else await store.remove("kv", "people");
  }

  /** Whether this phone may look people up and admit them by code offline. */
  get knowsPeople() {
    return this.people.size > 0;
  }

  /**
   * People whose name or printed code matches ``query`` (supervisor phones,
   * offline): like the server's look-up, with where each is now from the
   * seen set. At most ``limit``.
   */
  findPeople(query, limit = 20) {
    const words = normalised(query).split(/\s+/).filter(Boolean);
    if (!words.length) return [];
    const code = String(query).trim().toUpperCase();
    const found = [];
    for (const person of this.people.values()) {
      const name = normalised(person.name);
      if (person.code === code || words.every((w) => name.includes(w))) {
        const seen = this.lookup(person.ticket);
        const revoked = this.revoked.has(`${person.ticket}:${person.generation}`);
        found.push({
          id: person.ticket,
          holder_name: person.name,
          code: person.code,
          ticket_type: person.type,
          status: revoked ? "revoked" : "valid",
          zone: seen ? seen.zone : null,
          checked_in_at: seen && seen.checkedIn ? seen.at || true : null,
        });
        if (found.length >= limit) break;
      }
    }
    return found;
  }

  /** The supervisor's record of a typed printed code, or null. */
  personOfCode(text) {
    const id = ticketIdOfCode(text);
    return id === null ? null : this.people.get(String(id)) || null;
  }

  /** A whole admitted set from the server: it replaces both layers; `pending` scans are kept on top. */
  async #replaceAdmitted(data, pending) {
    this.admittedSet = new AdmittedSet(data);
    this.seen = new Map();
    for (const scan of pending) this.#applyLocal(scan);
    await store.put("kv", data, "admitted");
    await store.clear("seen");
    await store.putMany("seen", [...this.seen.values()]);
  }

  async #remember(records) {
    for (const record of records) this.seen.set(record.ticket, record);
    await store.putMany("seen", records);
  }

  #applyLocal(scan) {
    if (!scan.local_ok || scan.ticket == null) return;
    const record = { ticket: String(scan.ticket), zone: scan.zone_after, checkedIn: true, at: scan.scanned_at, gate: scan.gate };
    this.seen.set(record.ticket, record);
  }

  /** The `admissions` topic's snapshot: the admitted set, compact (admitted.js). */
  async admissionsSnapshot(data, pending = []) {
    await this.#replaceAdmitted(data, pending);
  }

  async admitted(message) {
    if (message.ticket == null || this.annulledScans.has(message.scan)) return;
    await this.#remember([
      {
        ticket: String(message.ticket),
        zone: message.zone ?? null,
        checkedIn: true,
        generation: message.generation,
        at: message.scanned_at ?? null,
        gate: message.gate ?? null,
        scan: message.scan ?? null,
      },
    ]);
  }

  /**
   * The `annulments` topic: these scans were undone, each holder is now in
   * `zone`. The annulments and admissions topics are read apart on the
   * server, so either may come first: one the phone knows a later scan of
   * is old news, and an admission of a scan known annulled is dropped.
   */
  async annulled(items) {
    const records = [];
    for (const item of items) {
      if (item.ticket == null) continue;
      this.annulledScans.add(item.scan);
      const known = this.seen.get(String(item.ticket));
      if (known && known.scan != null && known.scan > item.scan) continue;
      records.push({ ticket: String(item.ticket), zone: item.zone ?? null, checkedIn: Boolean(item.checked_in), scan: item.scan });
    }
    if (this.annulledScans.size > ANNULLED_KEPT) this.annulledScans = new Set([...this.annulledScans].slice(-ANNULLED_KEPT / 2));
    if (records.length) await this.#remember(records);
  }

  /** An annulled admission: the server says where the holder is now (not checked in: out of the set). */
  async moved(ticketId, zone, checkedIn) {
    await this.#remember([{ ticket: String(ticketId), zone: checkedIn ? (zone ?? null) : null, checkedIn }]);
  }

  /** The `revocations` topic (snapshot or message). */
  async revocations(data) {
    const items = data.revocations || [data];
    const bundle = (await store.get("kv", "bundle")) || {};
    bundle.revocations = mergeBy(bundle.revocations, items, (r) => `${r.ticket}:${r.generation}`);
    for (const r of items) this.revoked.add(`${r.ticket}:${r.generation}`);
    await store.put("kv", bundle, "bundle");
  }

  /**
   * Decide a scan here, with no network. Returns {ok, reason, ticketId,
   * zoneAfter, claims}. A bad secret is a refusal ("invalid",
   * "wrong_event"), exactly as the server would answer.
   */
  async decide(secret, gateId, direction, when) {
    const person = this.personOfCode(secret);
    if (person) return this.#decideKnown(person, gateId, direction, when);
    let claims;
    try {
      claims = await verifySecret(secret, this.eventId, this.keys);
    } catch (error) {
      if (error instanceof SecretError) return { ok: false, reason: error.reason, ticketId: null, claims: null };
      throw error;
    }
    const type = this.types.get(String(claims.typeId));
    const facts = { ticketId: claims.ticketId, generation: claims.generation, validFrom: claims.validFrom, validUntil: claims.validUntil };
    // Who it is: opened while the caller stores the scan (a promise).
    return { ...this.#judge(facts, type, gateId, direction, when), claims, who: this.who(secret, claims, type) };
  }

  /** A typed printed code on a supervisor's phone: decided from the person's record. */
  #decideKnown(person, gateId, direction, when) {
    const type = this.types.get(String(person.type));
    const facts = {
      ticketId: person.ticket,
      generation: person.generation,
      validFrom: person.valid_from ? new Date(person.valid_from) : null,
      validUntil: person.valid_until ? new Date(person.valid_until) : null,
    };
    const who = Promise.resolve({ name: person.name, type: type ? type.name : "", code: person.code });
    return { ...this.#judge(facts, type, gateId, direction, when), claims: null, who };
  }

  /** The rules (pwa/shared/rules.js) on one ticket's facts and what this door has seen of it. */
  #judge({ ticketId, generation, validFrom, validUntil }, type, gateId, direction, when) {
    const gate = this.gates.get(String(gateId));
    const seen = this.lookup(ticketId);
    const ticket = {
      status: this.revoked.has(`${ticketId}:${generation}`) ? "revoked" : "valid",
      generation,
      allowedZones: type ? (type.zones ?? null) : null,
      reentry: type ? type.reentry !== false : true,
      validFrom,
      validUntil,
      zoneId: seen ? seen.zone : null,
      checkedIn: Boolean(seen && seen.checkedIn),
    };
    const move = { fromZone: gate.from_zone ?? null, toZone: gate.to_zone, direction };
    return {
      ...decide(ticket, generation, move, when, true),
      ticketId,
      zoneBefore: ticket.zoneId,
      wasCheckedIn: ticket.checkedIn,
      seen: seen || null,
    };
  }

  /** Who a verified secret belongs to: name (sealed, opened with the secret), ticket type, printed code. */
  async who(secret, claims, type) {
    const sealed = await store.get("display", claims.ticketId);
    const opened = sealed && sealed.generation === claims.generation ? await openBox(secret, sealed.box) : null;
    return { name: opened ? opened.name : "", type: type ? type.name : "", code: ticketCode(claims.ticketId) };
  }

  /** The ticket id in a secret (unverified: only for finding our own records). */
  ticketIdOf(secret) {
    return parseSecret(secret).claims.ticketId;
  }

  /**
   * Record this phone's own accepted scan (online or off) in the seen set:
   * at once in memory (the next decision sees it); the returned promise is
   * its copy in IndexedDB, which the answer on screen need not wait for (the
   * queued scan is already kept, and a reload rebuilds the set from it).
   */
  record(ticketId, zone, gate = null, at = new Date().toISOString()) {
    if (ticketId == null) return Promise.resolve();
    return this.#remember([{ ticket: String(ticketId), zone: zone ?? null, checkedIn: true, gate, at }]);
  }
}

function byTicket(people) {
  return new Map(people.map((p) => [String(p.ticket), p]));
}

/** Lower case, full-width folded (NFKC), for matching names as typed. */
function normalised(text) {
  return String(text || "").normalize("NFKC").toLowerCase().trim();
}

function mergeBy(old, fresh, keyOf) {
  const merged = new Map((old || []).map((item) => [keyOf(item), item]));
  for (const item of fresh || []) merged.set(keyOf(item), item);
  return [...merged.values()];
}
