// What an offline answer may say of a ticket: its holder's name, sealed in
// the offline bundle under a key only the ticket's own QR code gives
// (AES-256-GCM under HKDF-SHA256 of the secret). The JavaScript side of
// checkin/display.py — keep the two in step. A phone that scans a code
// opens that one line; a lost phone's bundle opens none.
//
// Ticket type and printed code need no sealing: the type is signed into the
// secret, the code is the ticket id in Crockford base32 (server/features/issuance.py,
// ticket_code).

const SALT = new TextEncoder().encode("muster display");
const INFO = new TextEncoder().encode("v1");
const IV_BYTES = 12;
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** The printed code of a ticket id: Crockford base32, at least 6 characters. */
export function ticketCode(ticketId) {
  let value = BigInt(ticketId);
  let digits = "";
  while (value > 0n) {
    digits = CROCKFORD[Number(value % 32n)] + digits;
    value /= 32n;
  }
  return digits.padStart(6, "0");
}

/** The ticket id of a printed code, or null when it is not one. */
export function ticketIdOfCode(code) {
  const text = String(code || "").trim().toUpperCase();
  if (!/^[0-9A-HJKMNP-TV-Z]{6,13}$/.test(text)) return null;
  let value = 0n;
  for (const ch of text) value = value * 32n + BigInt(CROCKFORD.indexOf(ch));
  return value > 0n && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : null;
}

function unbase64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** The data sealed in ``box`` for ``secret``; null when it does not open (or no WebCrypto). */
export async function openBox(secret, box) {
  if (!globalThis.crypto || !crypto.subtle || !box) return null;
  try {
    const raw = unbase64url(box);
    const material = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret.trim().toUpperCase()), "HKDF", false, ["deriveKey"]);
    const key = await crypto.subtle.deriveKey(
      { name: "HKDF", hash: "SHA-256", salt: SALT, info: INFO },
      material,
      { name: "AES-GCM", length: 256 },
      false,
      ["decrypt"],
    );
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: raw.slice(0, IV_BYTES) }, key, raw.slice(IV_BYTES));
    return JSON.parse(new TextDecoder().decode(plain));
  } catch {
    return null;
  }
}
