// Wall-clock times in an event's own time zone, on every page. The organiser
// types "09:00" meaning 09:00 in Shanghai, whatever zone the laptop is in;
// the API wants an ISO time with its offset; a phone or a big screen set to
// another zone still shows the venue's clock. Intl knows every IANA zone, so
// the offset is read from it rather than from the device's clock.

const partsFormat = new Map();

function formatterFor(tz) {
  if (!partsFormat.has(tz)) {
    partsFormat.set(tz, new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23",
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    }));
  }
  return partsFormat.get(tz);
}

function wallParts(ms, tz) {
  const out = {};
  for (const p of formatterFor(tz).formatToParts(new Date(ms))) out[p.type] = p.value;
  return out;
}

/** Minutes the zone `tz` is ahead of UTC at the instant `ms`. */
export function offsetMinutes(ms, tz) {
  const p = wallParts(ms, tz);
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60000);
}

export function isValidZone(tz) {
  try {
    formatterFor(tz);
    return true;
  } catch {
    return false;
  }
}

function pad(n) {
  return String(n).padStart(2, "0");
}

function offsetText(minutes) {
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** "2026-12-01T09:00" read in `tz` → "2026-12-01T09:00:00+08:00". */
export function localToIso(local, tz) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(local || "");
  if (!m) return null;
  const guess = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  // Two passes settle the offset around a daylight-saving change.
  let offset = offsetMinutes(guess, tz);
  const second = offsetMinutes(guess - offset * 60000, tz);
  if (second !== offset) offset = second;
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:00${offsetText(offset)}`;
}

/** An ISO time → "YYYY-MM-DDTHH:mm" on the wall clock of `tz` (for datetime-local inputs). */
export function isoToLocal(iso, tz) {
  if (!iso) return "";
  const p = wallParts(Date.parse(iso), tz);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

function locale(lang) {
  return lang === "zh" ? "zh-CN" : "en-GB";
}

/** "09:05" on the wall clock of `tz`. */
export function clockInZone(iso, tz, lang) {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString(locale(lang), { timeZone: tz || undefined, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
}

/** The calendar day of `iso` in `tz`, as a number of days since 1970 (for "next day" marks). */
function dayNumber(iso, tz) {
  const p = wallParts(Date.parse(iso), tz);
  return Math.round(Date.UTC(+p.year, +p.month - 1, +p.day) / 86400000);
}

/**
 * An event's span in its zone: "2026年12月1日 18:00 – 02:00" and how many
 * days later the end falls (1 for "next day"), so a page can mark it.
 */
export function spanInZone(startIso, endIso, tz, lang) {
  const start = formatInZone(startIso, tz, lang);
  const days = dayNumber(endIso, tz) - dayNumber(startIso, tz);
  const end = days <= 1 ? clockInZone(endIso, tz, lang) : formatInZone(endIso, tz, lang);
  return { start, end, days };
}

/** "UTC+08:00" for `tz` at the instant `iso` (now if none). */
export function offsetName(tz, iso = null) {
  return `UTC${offsetText(offsetMinutes(iso ? Date.parse(iso) : Date.now(), tz))}`;
}

/** A readable date and time in `tz`, in the page's language. */
export function formatInZone(iso, tz, lang) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(locale(lang), {
    timeZone: tz || undefined, year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
}

/** "3 min ago"-style age, coarse on purpose. */
export function ageText(iso, lang, now = Date.now()) {
  if (!iso) return "—";
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  const rtf = new Intl.RelativeTimeFormat(lang === "zh" ? "zh-CN" : "en", { numeric: "auto" });
  if (seconds < 60) return rtf.format(-seconds, "second");
  if (seconds < 3600) return rtf.format(-Math.floor(seconds / 60), "minute");
  if (seconds < 86400) return rtf.format(-Math.floor(seconds / 3600), "hour");
  return rtf.format(-Math.floor(seconds / 86400), "day");
}

/** Time zones offered first; any IANA name may be typed. */
export const COMMON_ZONES = [
  "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo", "Asia/Seoul",
  "Asia/Dubai", "Europe/London", "Europe/Berlin", "Europe/Paris", "America/New_York",
  "America/Los_Angeles", "Australia/Sydney", "UTC",
];
