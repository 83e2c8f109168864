// The stock panel: every item with its level against its thresholds, the
// low and critical ones first (the order comes from model.js stockView).

import { t } from "../shared/i18n.js";
import { formatNumber, h } from "./dom.js";

function stockRow(item) {
  // The bar runs to twice the low threshold, so "low" sits at its middle and
  // an item far above it simply shows full.
  const scale = item.low ? item.low * 2 : Math.max(item.quantity, 1);
  const fraction = Math.max(0, Math.min(1, item.quantity / scale));
  const thresholds =
    item.low === null
      ? null
      : item.critical === null
        ? t("stock.threshold", { low: formatNumber(item.low) })
        : t("stock.threshold_critical", { low: formatNumber(item.low), critical: formatNumber(item.critical) });
  return h(
    "li",
    { class: `stock-item level-${item.level}`, "data-stock": item.id },
    h(
      "div",
      { class: "stock-head" },
      h("span", { class: "stock-name" }, item.name),
      item.level === "ok" ? null : h("span", { class: "badge" }, t(`level.${item.level}`)),
      h("span", { class: "stock-qty" }, h("strong", { "data-testid": "stock-quantity" }, formatNumber(item.quantity)), " ", item.unit),
    ),
    h("div", { class: "bar" }, h("div", { class: "bar-fill", style: `width:${fraction * 100}%` }), item.low ? h("div", { class: "bar-mark", style: "left:50%" }) : null),
    h("div", { class: "stock-meta muted" }, [item.location, thresholds].filter(Boolean).join(" · ")),
  );
}

export function renderStock(el, items) {
  el.replaceChildren(
    h("h2", {}, t("stock.title")),
    items.length ? h("ul", { class: "stock" }, items.map(stockRow)) : h("p", { class: "muted empty" }, t("stock.empty")),
  );
}
