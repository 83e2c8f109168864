// Ticket secrets, parsed and verified on the phone with no network.
//
// The JavaScript copy of the layout in checkin/secrets.py (keep the two in
// step): 88 bytes, base32 (RFC 4648, upper case, no padding) in 141
// characters, big-endian:
//
//   offset size field
//        0    1 version (1)
//        1    4 event id
//        5    4 ticket id
//        9    4 ticket type id
//       13    2 generation
//       15    4 valid from  (Unix seconds; 0 = no lower bound)
//       19    4 valid until (Unix seconds; 0 = no upper bound)
//       23    1 key id
//       24   64 Ed25519 signature over bytes 0..23
//
// Signatures are checked with WebCrypto's Ed25519 where the browser has it
// (Chromium, Firefox, Safari 17+), else with the vendored @noble/ed25519,
// whose SHA-512 comes from the vendored @noble/hashes so that it works even
// where crypto.subtle is missing (a page served over plain HTTP from a LAN
// address is not a secure context).

export const VERSION = 1;
export const CLAIMS_SIZE = 24;
export const SIGNATURE_SIZE = 64;
export const SECRET_BYTES = CLAIMS_SIZE + SIGNATURE_SIZE;
export const SECRET_LENGTH = 141;

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const LOOKUP = new Map([...ALPHABET].map((ch, i) => [ch, i]));

/** A secret that must be refused; `reason` is an admission reason code. */
export class SecretError extends Error {
  constructor(reason, message) {
    super(message);
    this.reason = reason;
  }
}

function base32Decode(text) {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let bits = 0;
  let value = 0;
  let index = 0;
  for (const ch of text) {
    const digit = LOOKUP.get(ch);
    if (digit === undefined) throw new SecretError("invalid", "not a Muster ticket code (bad characters)");
    value = (value << 5) | digit;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[index++] = (value >>> bits) & 0xff;
    }
  }
  // The leftover bits must be zero: only the canonical spelling is accepted,
  // so one ticket has exactly one code (as checkin/secrets.py insists).
  if (bits > 0 && (value & ((1 << bits) - 1)) !== 0) {
    throw new SecretError("invalid", "not a Muster ticket code (non-canonical)");
  }
  return out;
}

function epoch(seconds) {
  return seconds === 0 ? null : new Date(seconds * 1000);
}

/**
 * Parse a scanned text into its claims (no signature check yet).
 * Returns {claims, body, signature}; throws SecretError.
 */
export function parseSecret(scanned) {
  const text = String(scanned).trim().toUpperCase();
  if (text.length !== SECRET_LENGTH) throw new SecretError("invalid", "not a Muster ticket code (wrong length)");
  const raw = base32Decode(text);
  if (raw.length !== SECRET_BYTES) throw new SecretError("invalid", "not a Muster ticket code (wrong length)");
  const view = new DataView(raw.buffer, raw.byteOffset, CLAIMS_SIZE);
  const version = view.getUint8(0);
  if (version !== VERSION) throw new SecretError("invalid", `unknown ticket code version ${version}`);
  const claims = {
    secret: text,
    eventId: view.getUint32(1),
    ticketId: view.getUint32(5),
    typeId: view.getUint32(9),
    generation: view.getUint16(13),
    validFrom: epoch(view.getUint32(15)),
    validUntil: epoch(view.getUint32(19)),
    kid: view.getUint8(23),
  };
  return { claims, body: raw.slice(0, CLAIMS_SIZE), signature: raw.slice(CLAIMS_SIZE) };
}

/** Raw 32-byte public key from hex, base64 or base64url text (or bytes). */
export function publicKeyBytes(value) {
  if (value instanceof Uint8Array) return value;
  const text = String(value).trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Uint8Array.from(text.match(/../g), (h) => parseInt(h, 16));
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

let webCryptoEd25519 = typeof crypto !== "undefined" && crypto.subtle ? undefined : false;
const importedKeys = new Map();
let noble = null;

async function verifyWithWebCrypto(key, signature, body) {
  const cacheKey = Array.from(key).join(",");
  let imported = importedKeys.get(cacheKey);
  if (!imported) {
    imported = await crypto.subtle.importKey("raw", key, { name: "Ed25519" }, false, ["verify"]);
    importedKeys.set(cacheKey, imported);
  }
  return crypto.subtle.verify({ name: "Ed25519" }, imported, signature, body);
}

async function verifyWithNoble(key, signature, body) {
  if (!noble) {
    const [ed, sha2] = await Promise.all([
      import("/vendor/noble-ed25519/index.js"),
      import("/vendor/noble-hashes/sha2.js"),
    ]);
    ed.hashes.sha512 = sha2.sha512;
    noble = ed;
  }
  try {
    return noble.verify(signature, body, key);
  } catch {
    return false;
  }
}

/** Which implementation verifies signatures here: "webcrypto" or "noble". */
export async function signatureEngine() {
  if (webCryptoEd25519 === undefined) {
    try {
      // The public key of RFC 8032's first test vector: a valid point.
      const probe = publicKeyBytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
      await crypto.subtle.importKey("raw", probe, { name: "Ed25519" }, false, ["verify"]);
      webCryptoEd25519 = true;
    } catch {
      webCryptoEd25519 = false;
    }
  }
  return webCryptoEd25519 ? "webcrypto" : "noble";
}

/** Force one engine (tests compare the two). */
export function useSignatureEngine(name) {
  webCryptoEd25519 = name === "webcrypto";
}

/**
 * Verify a scanned secret against the event's public keys ({kid: key}).
 * Returns the claims of a genuine secret of this event, or throws
 * SecretError with reason "invalid" or "wrong_event". Like KeyRing.verify,
 * it knows no clock and no ticket state: that is rules.js's business.
 */
export async function verifySecret(scanned, eventId, publicKeys) {
  const { claims, body, signature } = parseSecret(scanned);
  if (claims.eventId !== Number(eventId)) throw new SecretError("wrong_event", "this ticket is for another event");
  const rawKey = publicKeys[claims.kid] ?? publicKeys[String(claims.kid)];
  if (rawKey === undefined) throw new SecretError("invalid", "signed with an unknown key");
  const key = publicKeyBytes(rawKey);
  const engine = await signatureEngine();
  const genuine =
    engine === "webcrypto"
      ? await verifyWithWebCrypto(key, signature, body)
      : await verifyWithNoble(key, signature, body);
  if (!genuine) throw new SecretError("invalid", "the signature does not match");
  return claims;
}
