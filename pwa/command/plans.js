// Emergency plans (应急预案): runbooks per incident category, written in
// Markdown in Chinese and English by the organiser, shown in a dialog
// (rendered as DOM nodes by pwa/shared/markdown.js, never as HTML).

import { t } from "../shared/i18n.js";
import { planIn } from "../shared/incident.js";
import { categoryLabel } from "../shared/codes.js";
import { renderMarkdown } from "../shared/markdown.js";
import { h } from "./dom.js";

/**
 * Show ``plans`` in the dialog, the one of ``category`` first and open.
 * ``plans`` is null when they could not be loaded.
 */
export function showPlans(dialog, plans, category = null) {
  const body = dialog.querySelector(".dialog-body");
  dialog.querySelector(".dialog-title").textContent = t("plans.title");
  if (plans === null) {
    body.replaceChildren(h("p", {}, t("plans.unavailable")));
  } else if (!plans.length) {
    body.replaceChildren(h("p", {}, t("plans.none")));
  } else {
    const ordered = [...plans].sort((a, b) => Number(b.category === category) - Number(a.category === category));
    body.replaceChildren(
      ...ordered.map((plan) => {
        const { title, steps, otherLanguage } = planIn(plan);
        return h(
          "details",
          { class: "plan", "data-plan-category": plan.category, open: category === null ? ordered.length === 1 : plan.category === category },
          h("summary", {}, h("span", { class: "plan-category" }, categoryLabel(plan.category)), " ", title),
          otherLanguage ? h("p", { class: "muted" }, t("detail.plan_other_language")) : null,
          renderMarkdown(steps),
        );
      }),
    );
  }
  if (!dialog.open) dialog.showModal();
}
