// The alerts feed: offline conflicts, zones near full, low stock, escalated
// incidents — the unacknowledged ones on top, each with an acknowledge button.

import { alertKind, alertText } from "../shared/codes.js";
import { t } from "../shared/i18n.js";
import { formatClock, h } from "./dom.js";

function alertRow(alert, acknowledge, mayAct, timeZone) {
  const acked = Boolean(alert.acknowledgedAt);
  return h(
    "li",
    { class: `alert sev-${alert.severity}${acked ? " acked" : ""}`, "data-alert": alert.id, "data-kind": alert.kind },
    h(
      "div",
      { class: "alert-head" },
      h("span", { class: "alert-kind" }, alertKind(alert.kind)),
      h("span", { class: "alert-time muted" }, formatClock(alert.createdAt)),
    ),
    h("div", { class: "alert-message" }, alertText(alert, { timeZone })),
    acked
      ? h("div", { class: "muted alert-acked" }, t("alerts.acknowledged"))
      : mayAct
        ? h("button", { class: "ack", "data-action": "ack-alert", onclick: () => acknowledge(alert) }, t("alerts.ack"))
        : null,
  );
}

export function renderAlerts(el, feed, acknowledge, mayAct, timeZone = null) {
  const unacked = feed.filter((a) => !a.acknowledgedAt).length;
  el.replaceChildren(
    h(
      "div",
      { class: "panel-head" },
      h("h2", {}, t("alerts.title")),
      unacked ? h("span", { class: "badge bad", "data-testid": "alerts-unacked" }, t("alerts.unacked", { n: unacked })) : null,
    ),
    feed.length ? h("ul", { class: "alerts" }, feed.map((a) => alertRow(a, acknowledge, mayAct, timeZone))) : h("p", { class: "muted empty" }, t("alerts.none")),
  );
}
