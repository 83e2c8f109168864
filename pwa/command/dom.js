// Building DOM from data without innerHTML (every string from the server is
// text, never markup), and the number and duration formats of the page.

import { language, t } from "../shared/i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.setAttribute("class", value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "style") setStyle(el, value);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// Styles go through the CSSOM, never a style attribute: the pages'
// Content-Security-Policy (server/security_headers.py) refuses inline style
// attributes, and "width:40%" written as one would be dropped.
function setStyle(el, value) {
  if (typeof value === "object") {
    Object.assign(el.style, value);
    return;
  }
  for (const declaration of String(value).split(";")) {
    const colon = declaration.indexOf(":");
    if (colon > 0) el.style.setProperty(declaration.slice(0, colon).trim(), declaration.slice(colon + 1).trim());
  }
}

/** An HTML element: h("div", {class: "x", onclick: f}, "text", child). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function formatNumber(n) {
  if (n === null || n === undefined) return "–";
  return new Intl.NumberFormat(language() === "zh" ? "zh-CN" : "en-GB").format(n);
}

export function formatPercent(fraction) {
  return `${Math.round(fraction * 100)}%`;
}

/** A short duration: "45 s", "12 min", "1 h 05 min". */
export function formatDuration(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return t("unit.s", { n: seconds });
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return t("unit.min", { n: minutes });
  return t("unit.h", { h: Math.floor(minutes / 60), m: String(minutes % 60).padStart(2, "0") });
}

/** The event's time zone: every clock on the page reads in it, whatever the screen's own zone. */
let timeZone;

export function useTimeZone(tz) {
  timeZone = tz || undefined;
}

export function formatClock(date, withSeconds = false) {
  if (!date) return "";
  const options = { hour: "2-digit", minute: "2-digit", hour12: false, timeZone };
  if (withSeconds) options.second = "2-digit";
  return date.toLocaleTimeString(language() === "zh" ? "zh-CN" : "en-GB", options);
}

/** The day of ``date`` in the event's zone, as YYYY-MM-DD (Sweden's locale writes dates so). */
export function formatDay(date) {
  if (!date) return "";
  return date.toLocaleDateString("sv-SE", { timeZone });
}

/**
 * An element whose text is a duration since ``date``, kept current by
 * tickDurations() (the page calls it every second) instead of re-rendering.
 */
export function since(date, key = null, params = {}) {
  const el = h("span", { class: "since" });
  if (!date) return el;
  el.dataset.since = String(date.getTime());
  if (key) {
    el.dataset.sinceKey = key;
    el.dataset.sinceParams = JSON.stringify(params);
  }
  renderSince(el, Date.now());
  return el;
}

function renderSince(el, now) {
  const text = formatDuration(now - Number(el.dataset.since));
  if (!el.dataset.sinceKey) {
    el.textContent = text;
    return;
  }
  el.textContent = t(el.dataset.sinceKey, { ...JSON.parse(el.dataset.sinceParams || "{}"), time: text, ago: text });
}

export function tickDurations(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll("[data-since]")) renderSince(el, now);
}
