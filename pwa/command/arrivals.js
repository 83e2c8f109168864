// Arrivals per minute over the last hour, drawn as plain SVG bars: sixty
// numbers do not need a chart library, and the page must work offline from
// our own origin.

import { t } from "../shared/i18n.js";
import { formatClock, formatNumber, h, s } from "./dom.js";

const MINUTES = 60;

/** A round axis maximum at or above ``peak`` (1, 2, 5 × 10^n). */
export function niceCeiling(peak) {
  if (peak <= 5) return 5;
  const power = 10 ** Math.floor(Math.log10(peak));
  for (const step of [1, 2, 5, 10]) if (step * power >= peak) return step * power;
  return 10 * power;
}

function lastHour(series, now) {
  // Place each count in its minute of the last hour; minutes with no entry
  // are zero, so the time axis is always sixty minutes wide.
  const current = Math.floor(now.getTime() / 60000);
  const counts = new Array(MINUTES).fill(0);
  series.forEach((point, i) => {
    const minute = point.at ? Math.floor(point.at.getTime() / 60000) : current - (series.length - 1 - i);
    const slot = MINUTES - 1 - (current - minute);
    if (slot >= 0 && slot < MINUTES) counts[slot] += point.count;
  });
  return counts;
}

export function renderArrivals(el, series, now = new Date()) {
  const counts = lastHour(series, now);
  const peak = Math.max(0, ...counts);
  const total = counts.reduce((a, b) => a + b, 0);
  const top = niceCeiling(peak);
  const width = Math.max(300, Math.round(el.clientWidth || 800) - 32);
  const height = Math.max(120, Math.round((el.clientHeight || 260) - 90));
  const left = 44;
  const bottom = 24;
  const plotW = width - left - 8;
  const plotH = height - bottom - 8;
  const step = plotW / MINUTES;
  const y = (v) => 8 + plotH - (v / top) * plotH;

  const grid = [0, top / 2, top].map((v) =>
    s(
      "g",
      { class: "grid" },
      s("line", { x1: left, x2: left + plotW, y1: y(v), y2: y(v) }),
      s("text", { x: left - 6, y: y(v) + 5, "text-anchor": "end" }, formatNumber(v)),
    ),
  );
  const bars = counts.map((count, i) =>
    s("rect", {
      class: i === MINUTES - 1 ? "minute current" : "minute",
      x: left + i * step + 1,
      y: y(count),
      width: Math.max(1, step - 2),
      height: Math.max(0, 8 + plotH - y(count)),
      "data-count": count,
    }),
  );
  const ticks = [0, 15, 30, 45, 59].map((i) => {
    const at = new Date((Math.floor(now.getTime() / 60000) - (MINUTES - 1 - i)) * 60000);
    // The first and last labels hug the plot's edges so they are never clipped.
    const anchor = i === 0 ? "start" : i === MINUTES - 1 ? "end" : "middle";
    const x = i === 0 ? left : i === MINUTES - 1 ? left + plotW : left + i * step + step / 2;
    return s("text", { class: "tick", x, y: height - 4, "text-anchor": anchor }, formatClock(at));
  });

  el.replaceChildren(
    h(
      "div",
      { class: "panel-head" },
      h("h2", {}, t("arrivals.title")),
      h(
        "div",
        { class: "arrivals-figures" },
        h("span", { class: "arrivals-now", "data-testid": "arrivals-now" }, t("arrivals.now", { n: formatNumber(counts[MINUTES - 1]) })),
        h("span", {}, t("arrivals.peak", { n: formatNumber(peak) })),
        h("span", { "data-testid": "arrivals-total" }, t("arrivals.total", { n: formatNumber(total) })),
      ),
    ),
    s(
      "svg",
      { class: "arrivals-chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": t("arrivals.title") },
      grid,
      bars,
      ticks,
    ),
  );
}
