// The admission decision, evaluated on the door phone when it is offline.
//
// The JavaScript copy of `decide` in checkin/rules.py (keep the two in step;
// the reason codes are a stable contract). Inputs are plain data, as there:
//
//   ticket: {status: "valid"|"revoked"|"retired"|"blank", generation, allowedZones: [ids]|null,
//            reentry, validFrom: Date|null, validUntil: Date|null,
//            zoneId: id|null (null: outside), checkedIn: bool}
//   move:   {fromZone: id|null (null: outside), toZone: id, direction: "in"|"out"}
//   when:   Date of the scan
//   zoneHasRoom: whether the zone being entered can take one more
//
// Returns {ok, reason, zoneAfter}.

export const INVALID = "invalid";
export const WRONG_EVENT = "wrong_event";
export const REVOKED = "revoked";
// The event's personal data was shredded (or the holder erased): no QR of it admits anyone.
export const RETIRED = "retired";
export const NOT_YET_VALID = "not_yet_valid";
export const EXPIRED = "expired";
export const ALREADY_INSIDE = "already_inside";
export const NOT_INSIDE = "not_inside";
export const ZONE_FULL = "zone_full";
export const WRONG_ZONE = "wrong_zone";

export const REASONS = [
  INVALID,
  WRONG_EVENT,
  REVOKED,
  RETIRED,
  NOT_YET_VALID,
  EXPIRED,
  ALREADY_INSIDE,
  NOT_INSIDE,
  ZONE_FULL,
  WRONG_ZONE,
];

/** The zone a move leaves: "in" leaves fromZone, "out" leaves toZone. */
export function leaving(move) {
  return move.direction === "in" ? move.fromZone : move.toZone;
}

/** The zone a move enters: "in" enters toZone, "out" enters fromZone. */
export function entering(move) {
  return move.direction === "in" ? move.toZone : move.fromZone;
}

function same(a, b) {
  // Ids may come as numbers or strings; null means outside.
  if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null);
  return String(a) === String(b);
}

export function decide(ticket, secretGeneration, move, when, zoneHasRoom = true) {
  const refuse = (reason) => ({ ok: false, reason, zoneAfter: ticket.zoneId ?? null });

  if (ticket.status === RETIRED) return refuse(RETIRED);
  // An unbound walk-in blank (server/features/walk_ins.py): nobody's ticket yet.
  if (ticket.status === "blank") return refuse(INVALID);
  if (ticket.status === "revoked" || secretGeneration !== ticket.generation) return refuse(REVOKED);
  if (ticket.validFrom && when < ticket.validFrom) return refuse(NOT_YET_VALID);
  if (ticket.validUntil && when > ticket.validUntil) return refuse(EXPIRED);
  if (!same(ticket.zoneId, leaving(move))) {
    // Going in to where the holder already is, or in from outside while
    // recorded inside anywhere (anti-passback): already inside. Any other
    // move from a zone the holder is not in — through an inner door
    // (Hall A → VIP) before entering Hall A, or out of a zone never
    // entered — is not_inside: not inside the zone the move leaves.
    const inside = (ticket.zoneId ?? null) !== null;
    if (move.direction === "in" && (same(ticket.zoneId, move.toZone) || ((move.fromZone ?? null) === null && inside))) {
      return refuse(ALREADY_INSIDE);
    }
    return refuse(NOT_INSIDE);
  }
  const into = entering(move);
  if (into !== null && into !== undefined) {
    if (ticket.allowedZones && !ticket.allowedZones.some((z) => same(z, into))) return refuse(WRONG_ZONE);
    if (move.direction === "in" && (move.fromZone ?? null) === null && ticket.checkedIn && !ticket.reentry) {
      return refuse(ALREADY_INSIDE);
    }
    if (!zoneHasRoom) return refuse(ZONE_FULL);
  }
  return { ok: true, reason: null, zoneAfter: into ?? null };
}
