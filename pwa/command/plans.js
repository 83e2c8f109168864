// Emergency plans (应急预案): runbooks per incident category, written in
// Markdown in Chinese and English by the organiser, shown in a dialog.
// The Markdown is rendered into DOM nodes (never innerHTML): headings, lists,
// paragraphs, **bold** and `code` are all a runbook needs.

import { language, t } from "../shared/i18n.js";
import { categoryLabel } from "../shared/codes.js";
import { h } from "./dom.js";

/**
 * The title and Markdown of a plan (server/incidents.py plan_json:
 * ``{"category", "title": {"zh", "en"}, "steps": {"zh", "en"}}``) in the
 * page's language, falling back to the other one.
 */
export function planText(plan, lang = language()) {
  const other = lang === "zh" ? "en" : "zh";
  const pick = (pair) => (pair && (pair[lang] || pair[other])) || "";
  return { title: pick(plan.title) || categoryLabel(plan.category), markdown: pick(plan.steps) };
}

function inline(text) {
  // **bold** and `code`; everything else is plain text.
  const parts = [];
  const pattern = /(\*\*[^*]+\*\*|`[^`]+`)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    const token = match[0];
    parts.push(token.startsWith("**") ? h("strong", {}, token.slice(2, -2)) : h("code", {}, token.slice(1, -1)));
    last = match.index + token.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

export function renderMarkdown(markdown) {
  const root = h("div", { class: "markdown" });
  let list = null;
  let paragraph = null;
  for (const raw of markdown.replace(/\r\n?/g, "\n").split("\n")) {
    const line = raw.trim();
    const heading = line.match(/^(#{1,4})\s+(.*)$/);
    const ordered = line.match(/^\d+[.)]\s+(.*)$/);
    const bullet = line.match(/^[-*+]\s+(.*)$/);
    if (!line) {
      list = null;
      paragraph = null;
    } else if (heading) {
      list = null;
      paragraph = null;
      root.append(h(`h${Math.min(6, heading[1].length + 2)}`, {}, inline(heading[2])));
    } else if (ordered || bullet) {
      const tag = ordered ? "ol" : "ul";
      if (!list || list.tagName.toLowerCase() !== tag) {
        list = h(tag, {});
        root.append(list);
      }
      paragraph = null;
      list.append(h("li", {}, inline((ordered || bullet)[1])));
    } else if (paragraph) {
      paragraph.append(" ", ...inline(line));
    } else {
      list = null;
      paragraph = h("p", {}, inline(line));
      root.append(paragraph);
    }
  }
  return root;
}

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
        const { title, markdown } = planText(plan);
        return h(
          "details",
          { class: "plan", "data-plan-category": plan.category, open: category === null ? ordered.length === 1 : plan.category === category },
          h("summary", {}, h("span", { class: "plan-category" }, categoryLabel(plan.category)), " ", title),
          renderMarkdown(markdown),
        );
      }),
    );
  }
  if (!dialog.open) dialog.showModal();
}
