// Simplified Chinese and English, chosen from the browser's language and
// switchable; the choice is kept in localStorage. Each page registers its own
// strings with addStrings() and marks elements with data-i18n="key"
// (text) or data-i18n-placeholder / data-i18n-title / data-i18n-aria-label.

const STORAGE_KEY = "muster.lang";
const strings = { zh: {}, en: {} };

export function detectLanguage() {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved === "zh" || saved === "en") return saved;
  const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
  return langs.some((l) => l.toLowerCase().startsWith("zh")) ? "zh" : "en";
}

let current = detectLanguage();

export function language() {
  return current;
}

export function addStrings(table) {
  for (const lang of ["zh", "en"]) Object.assign(strings[lang], table[lang] || {});
}

const PLURALS = { zh: new Intl.PluralRules("zh-CN"), en: new Intl.PluralRules("en") };

/**
 * Translate key, replacing {name} placeholders from params. With a number n,
 * the language's plural form of it is taken when the catalogue has one
 * (English "staff.summary.one": "{n} person, …"; Chinese needs none).
 */
export function t(key, params = {}) {
  const form = typeof params.n === "number" ? strings[current][`${key}.${PLURALS[current].select(params.n)}`] : undefined;
  const text = form ?? strings[current][key] ?? strings.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

export function applyTranslations(root = document) {
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const attr of ["placeholder", "title", "aria-label"]) {
    const data = "i18n" + attr.replace(/(^|-)(\w)/g, (_, __, c) => c.toUpperCase());
    for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) el.setAttribute(attr, t(el.dataset[data]));
  }
}

export function setLanguage(lang) {
  current = lang === "zh" ? "zh" : "en";
  localStorage.setItem(STORAGE_KEY, current);
  applyTranslations();
  window.dispatchEvent(new CustomEvent("languagechange-muster", { detail: current }));
}

/** Format a time (hours and minutes) in the user's language; in ``timeZone`` when given (the event's). */
export function formatTime(iso, timeZone) {
  if (!iso) return "";
  const options = { hour: "2-digit", minute: "2-digit" };
  if (timeZone) options.timeZone = timeZone;
  try {
    return new Date(iso).toLocaleTimeString(current === "zh" ? "zh-CN" : "en-GB", options);
  } catch {
    delete options.timeZone; // an unknown zone name: the device's own
    return new Date(iso).toLocaleTimeString(current === "zh" ? "zh-CN" : "en-GB", options);
  }
}
