// The admitted set as the server sends it: the `admissions` snapshot and the
// full offline bundle's `admitted_set`, a few bytes a ticket instead of a
// JSON object each (100,000 admitted: tens of KB, not MB).
//
// The encoder and its Python decoder are checkin/admitted.py (keep the three
// in step). The form, "runs-1":
//
//   count    how many tickets
//   ids      base64: the sorted ids as runs, each two LEB128 varints (the gap
//            from the end of the run before, the run's length less one); or,
//            when bitmap_from is a number, a bitmap of ids from bitmap_from
//   places   [[zone, checked_in], ...]: where holders can be (zone null: outside)
//   bits     bits of each ticket's place index, in id order ...
//   where    ... in this base64 little-endian bit stream (bits 0: all in places[0])
//   generations  [[ticket, generation], ...] for those not at generation 1
//
// Decoded, it stays compact: the ids in a Float64Array (ids may pass 2^32)
// searched by bisection, the place indexes in a typed array; a lookup makes
// one small record. A Map of 100,000 records would be tens of MB a phone.

export const FORMAT = "runs-1";

function bytesOf(text) {
  const binary = atob(text || "");
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function idsOf(data, count) {
  const raw = bytesOf(data.ids);
  const ids = new Float64Array(count);
  let n = 0;
  if (data.bitmap_from !== null && data.bitmap_from !== undefined) {
    const first = Number(data.bitmap_from);
    for (let at = 0; at < raw.length; at++) {
      const byte = raw[at];
      if (!byte) continue;
      for (let bit = 0; bit < 8; bit++) {
        if ((byte >> bit) & 1) {
          if (n >= count) throw new Error("admitted set: more ids than its count");
          ids[n++] = first + at * 8 + bit;
        }
      }
    }
  } else {
    let at = 0;
    let end = 0;
    const varint = () => {
      // Multiplication, not shifts: JavaScript's bit operators are 32-bit.
      let value = 0;
      let scale = 1;
      for (;;) {
        if (at >= raw.length) throw new Error("admitted set: a varint runs past the end");
        const byte = raw[at++];
        value += (byte & 0x7f) * scale;
        if (byte < 0x80) return value;
        scale *= 128;
      }
    };
    while (at < raw.length) {
      const start = end + varint();
      const length = varint() + 1;
      if (n + length > count) throw new Error("admitted set: more ids than its count");
      for (let k = 0; k < length; k++) ids[n++] = start + k;
      end = start + length;
    }
  }
  if (n !== count) throw new Error(`admitted set: ${n} ids, count ${count}`);
  return ids;
}

function placesOf(data, count) {
  const bits = Number(data.bits) || 0;
  const where = (data.places || []).length > 256 ? new Uint16Array(count) : new Uint8Array(count);
  if (bits === 0) return where;
  const raw = bytesOf(data.where);
  const mask = (1 << bits) - 1;
  for (let i = 0; i < count; i++) {
    const bit = i * bits;
    const at = bit >> 3;
    // A value spans at most three bytes (bits ≤ 16).
    const window = raw[at] | ((raw[at + 1] ?? 0) << 8) | ((raw[at + 2] ?? 0) << 16);
    where[i] = (window >> (bit & 7)) & mask;
  }
  return where;
}

/** Who the server says is admitted, and where each holder is. */
export class AdmittedSet {
  /** @param {object|null} data the server's encoded set (null: nobody) */
  constructor(data = null) {
    if (data && data.format !== FORMAT) throw new Error(`admitted set: unknown format ${data.format}`);
    const count = data ? Number(data.count) || 0 : 0;
    this.count = count;
    this.ids = data ? idsOf(data, count) : new Float64Array(0);
    this.where = data ? placesOf(data, count) : new Uint8Array(0);
    this.places = ((data && data.places) || []).map(([zone, checkedIn]) => ({ zone: zone ?? null, checkedIn: checkedIn !== false }));
    this.generations = new Map(((data && data.generations) || []).map(([t, g]) => [String(t), g]));
  }

  get size() {
    return this.count;
  }

  #indexOf(id) {
    let low = 0;
    let high = this.count - 1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      const found = this.ids[mid];
      if (found === id) return mid;
      if (found < id) low = mid + 1;
      else high = mid - 1;
    }
    return -1;
  }

  /** The record of one ticket ({ticket, zone, checkedIn, generation}), or null. */
  get(ticketId) {
    const id = Number(ticketId);
    const i = Number.isFinite(id) ? this.#indexOf(id) : -1;
    if (i < 0) return null;
    const place = this.places[this.where[i]];
    const ticket = String(ticketId);
    return { ticket, zone: place.zone, checkedIn: place.checkedIn, generation: this.generations.get(ticket) ?? 1 };
  }

  /** Every record, in id order. */
  *records() {
    for (let i = 0; i < this.count; i++) yield this.get(this.ids[i]);
  }
}
