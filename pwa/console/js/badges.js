// Printing badges: A4 sheets of 3 × 4 badges, each with the holder's name,
// the event, the ticket code and its QR code (the server's SVG, so the
// printed code is exactly what the doors verify). print.css lays the sheets
// out and hides the rest of the console on paper.

import { t } from "../../shared/i18n.js";
import { clear, h, toast } from "./dom.js";

export const PER_SHEET = 12;
/** Most badges printed at once: each needs its QR from the server. */
export const MAX_PRINT = 480;
const PARALLEL_FETCHES = 6;

async function mapLimited(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

async function qrSvg(api, ticket) {
  const blob = await api.get(`/api/v1/tickets/${ticket.id}/qr.svg?scale=4`);
  const doc = new DOMParser().parseFromString(await blob.text(), "image/svg+xml");
  const svg = doc.documentElement;
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  return document.importNode(svg, true);
}

/**
 * The size class of a name: a badge has room for two lines at 15 pt of
 * about 8 CJK characters (or 15 Latin ones) each; longer names are set
 * smaller, on up to three or four lines, rather than cut or pushing the QR
 * code (print.css keeps every badge in its cell).
 */
export function nameSize(name) {
  const width = [...String(name)].reduce((sum, ch) => sum + (/[\u2E80-\uFFEF]/.test(ch) ? 2 : 1), 0);
  if (width > 54) return "longer";
  if (width > 30) return "long";
  return "";
}

function badge(ticket, event, typeName, qr) {
  return h("div", { class: "badge", dataset: { ticket: String(ticket.id) } },
    h("div", { class: "badge-event" }, event.name),
    h("div", { class: `badge-name ${nameSize(ticket.holder_name)}`.trim() }, ticket.holder_name),
    typeName ? h("div", { class: "badge-type" }, typeName) : null,
    h("div", { class: "badge-qr" }, qr),
    h("div", { class: "badge-code" }, ticket.code));
}

/** Fill #print-root with sheets of badges for `tickets`, then open the print dialog. */
export async function printBadges(api, event, tickets, typeNames = new Map()) {
  const root = document.getElementById("print-root");
  if (!tickets.length) return;
  const chosen = tickets.slice(0, MAX_PRINT);
  if (tickets.length > MAX_PRINT) toast(t("print.capped", { n: MAX_PRINT }), "warn");
  toast(t("print.preparing", { n: chosen.length }));
  const codes = await mapLimited(chosen, PARALLEL_FETCHES, (ticket) => qrSvg(api, ticket));
  const sheets = [];
  for (let i = 0; i < chosen.length; i += PER_SHEET) {
    sheets.push(h("section", { class: "sheet" },
      chosen.slice(i, i + PER_SHEET).map((ticket, j) => badge(ticket, event, typeNames.get(ticket.ticket_type), codes[i + j]))));
  }
  clear(root, sheets);
  root.dataset.count = String(chosen.length);
  // Let the SVGs lay out before the dialog takes its snapshot.
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  window.print();
}
