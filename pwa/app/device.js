// This phone's pairing: the device token with its role, event and gate.
//
// Kept in localStorage (read synchronously at start, before IndexedDB is
// open). The organiser's pairing QR is a link to /app/#pair=CODE&event=E;
// the code travels in the fragment, which the browser never sends.

import { Api } from "/shared/api.js";

const KEY = "muster.device";

export function loadDevice() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || "null");
    return saved && saved.token ? saved : null;
  } catch {
    return null;
  }
}

export function saveDevice(device) {
  localStorage.setItem(KEY, JSON.stringify(device));
}

export function forgetDevice() {
  localStorage.removeItem(KEY);
}

/** The pairing code in a link (or a bare code typed by hand), or null. */
export function pairingCodeFrom(text) {
  const raw = String(text || "").trim();
  const hashAt = raw.indexOf("#");
  const fragment = hashAt >= 0 ? raw.slice(hashAt + 1) : raw.startsWith("pair=") ? raw : "";
  if (fragment) {
    const code = new URLSearchParams(fragment).get("pair");
    return code ? code.trim() : null;
  }
  return /^[A-Za-z0-9]{4}-?[A-Za-z0-9]{4}$/.test(raw) ? raw : null;
}

/** Trade a code for a device token; returns the saved device. Throws ApiError. */
export async function pair(code, deviceName) {
  const answer = await new Api(null).post(
    "/api/v1/devices/pair",
    { code, device_name: deviceName || "" },
    { timeoutMs: 10000 },
  );
  const device = {
    token: answer.token,
    role: answer.role,
    id: answer.device.id,
    name: answer.device.name,
    event: answer.event,
    gate: answer.gate,
    pairedAt: new Date().toISOString(),
  };
  saveDevice(device);
  return device;
}

/** Roles that scan, that report incidents, that move stock (server/auth.py). */
export const SCANNERS = new Set(["organiser", "command", "door"]);
export const OPERATORS = new Set(["organiser", "command", "staff"]);
export const INCIDENT_RUNNERS = new Set(["organiser", "command"]);
