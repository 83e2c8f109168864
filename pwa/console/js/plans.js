// Incident categories and emergency plans (应急预案). The categories staff
// pick from live in the event's options ("incident_categories"); each can
// have a plan: a title and steps in Markdown, in Chinese and in English,
// attached to every incident of that category.

import { PageError, TEAMS, categoryLabel, teamName } from "../../shared/codes.js";
import { language, t } from "../../shared/i18n.js";
import { TERMS } from "../../shared/terms.js";
import { clear, errorText, h, onSubmit, toast } from "./dom.js";
import { renderMarkdown } from "../../shared/markdown.js";

/** The categories an event has until the organiser changes them. */
export const DEFAULT_CATEGORIES = ["equipment_failure", "power", "network", "medical", "security", "facility", "crowd", "other"];

/**
 * The event's categories: options.incident_categories, a list of keys, or
 * the defaults (server/features/incidents.py event_categories — keep the two in step).
 */
export function eventCategories(event) {
  const given = event.options && event.options.incident_categories;
  const keys = Array.isArray(given) ? given.filter((c) => typeof c === "string" && c.length > 0 && c.length <= 32) : [];
  return keys.length ? keys : DEFAULT_CATEGORIES;
}


export async function showPlans(view) {
  const { api, event } = view;
  const base = `/api/v1/events/${event.id}`;
  const categories = eventCategories(event);
  let plans = [];
  let plansError = null;
  try {
    plans = (await api.get(`${base}/plans`)).plans || [];
  } catch (err) {
    plansError = err;
  }
  if (view.stale()) return;
  const byCategory = new Map(plans.map((p) => [p.category, p]));
  // A plan whose category was since removed is still shown, so it can be read and edited.
  const shown = [...categories, ...plans.map((p) => p.category).filter((c) => !categories.includes(c))];
  clear(view.main,
    h("div", { class: "page-head" }, h("h1", {}, t("nav.plans")), h("p", { class: "muted" }, t("plans.help"))),
    h("div", { class: "grid-2 wide-right" },
      categoriesCard(view, categories),
      h("section", { class: "card", id: "plans" }, h("h2", {}, t("plans.title")),
        plansError
          ? h("div", { class: "form-error", role: "alert" }, errorText(plansError))
          : shown.map((c) => planForm(view, c, byCategory.get(c))))));
}

/** A category's name in one language: the event's own label, else the built-in one. */
function labelIn(event, key, lang) {
  const own = event.options && event.options.category_labels && event.options.category_labels[key];
  if (own && typeof own === "object" && own[lang]) return String(own[lang]);
  return TERMS[lang][`category.${key}`] || "";
}

/** A key for a new category, from its English (or Chinese) name; never one in use. */
export function categoryKey(zh, en, taken) {
  let key = String(en || "").toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 24);
  if (!key) key = "category";
  let candidate = key;
  for (let n = 2; taken.has(candidate); n += 1) candidate = `${key}_${n}`;
  return candidate;
}

/**
 * The event's incident categories, each named in Chinese and in English
 * (options.category_labels); the keys stay internal. Built-in categories
 * start with their built-in names, which the organiser may change.
 */
function categoriesCard(view, categories) {
  const { api, event } = view;
  const rows = h("div", { class: "rows category-rows" },
    h("div", { class: "row-head" }, h("span", {}, t("category.zh")), h("span", {}, t("category.en")), h("span")));
  const addRow = (key = "") => {
    const zh = h("input", { name: "label_zh", value: key ? labelIn(event, key, "zh") : "", maxlength: 100, "aria-label": t("category.zh"), placeholder: t("category.zh_placeholder") });
    const en = h("input", { name: "label_en", value: key ? labelIn(event, key, "en") : "", maxlength: 100, "aria-label": t("category.en"), placeholder: t("category.en_placeholder") });
    const row = h("div", { class: "item category", dataset: { key } }, zh, en,
      h("button", { type: "button", class: "small", title: t("action.remove"), "aria-label": t("action.remove"), onclick: () => row.remove() }, "✕"));
    rows.append(row);
    return zh;
  };
  categories.forEach((key) => addRow(key));
  const form = h("form", { class: "form", id: "categories-form" }, rows,
    h("div", { class: "buttons" },
      h("button", { type: "button", id: "category-add", onclick: () => addRow().focus() }, t("category.add")),
      h("button", { type: "submit", class: "primary" }, t("action.save"))));
  onSubmit(form, async () => {
    const taken = new Set();
    const keys = [];
    const labels = {};
    for (const row of rows.querySelectorAll(".item.category")) {
      const zh = row.querySelector("[name=label_zh]").value.trim();
      const en = row.querySelector("[name=label_en]").value.trim();
      if (!zh && !en) continue;
      const key = row.dataset.key || categoryKey(zh, en, new Set([...taken, ...categories]));
      if (taken.has(key)) continue;
      taken.add(key);
      keys.push(key);
      labels[key] = { zh: zh || en, en: en || zh };
    }
    if (!keys.length) throw new PageError(t("category.none"));
    await api.patch(`/api/v1/events/${event.id}`, { options: { ...(event.options || {}), incident_categories: keys, category_labels: labels } });
    toast(t("saved"));
    view.reload();
  });
  return h("section", { class: "card", id: "categories" }, h("h2", {}, t("category.title")), h("p", { class: "muted" }, t("category.help")), form);
}

function planForm(view, category, plan) {
  const { api, event } = view;
  const base = `/api/v1/events/${event.id}/plans`;
  const preview = h("div", { class: "plan-preview" });
  const stepsZh = h("textarea", { name: "steps_zh", rows: 6, placeholder: "1. 确认现场安全\n2. 通知…" }, plan ? plan.steps.zh : "");
  const stepsEn = h("textarea", { name: "steps_en", rows: 6, placeholder: "1. Make the area safe\n2. Call…" }, plan ? plan.steps.en : "");
  const showPreview = () => clear(preview, renderMarkdown(language() === "zh" ? stepsZh.value : stepsEn.value));
  stepsZh.addEventListener("input", showPreview);
  stepsEn.addEventListener("input", showPreview);
  showPreview();
  // The teams expected to confirm it (server/features/broadcast_rules.py plan_expects): none ticked, everyone.
  const named = new Set(plan && Array.isArray(plan.teams) ? plan.teams : []);
  const teamBoxes = [...new Set([...TEAMS, ...named])].map((team) => h("label", { class: "check" },
    h("input", { type: "checkbox", name: "teams", value: team, checked: named.has(team) }), teamName(team)));
  const form = h("form", { class: "plan" },
    h("div", { class: "row" },
      h("label", { class: "field" }, h("span", {}, t("plans.title_zh")), h("input", { name: "title_zh", maxlength: 200, value: plan ? plan.title.zh : "" })),
      h("label", { class: "field" }, h("span", {}, t("plans.title_en")), h("input", { name: "title_en", maxlength: 200, value: plan ? plan.title.en : "" }))),
    h("div", { class: "row" },
      h("label", { class: "field" }, h("span", {}, t("plans.steps_zh")), stepsZh),
      h("label", { class: "field" }, h("span", {}, t("plans.steps_en")), stepsEn)),
    h("fieldset", { class: "plan-teams" }, h("legend", {}, t("plans.teams")), ...teamBoxes),
    h("p", { class: "muted small-text" }, t("plans.syntax")),
    h("div", { class: "preview-wrap" }, h("span", { class: "muted" }, t("plans.preview")), preview),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, t(plan ? "action.save" : "plans.create"))));
  onSubmit(form, async (data) => {
    const body = {
      title_zh: String(data.get("title_zh") || "").trim(),
      title_en: String(data.get("title_en") || "").trim(),
      steps_zh: String(data.get("steps_zh") || ""),
      steps_en: String(data.get("steps_en") || ""),
      teams: data.getAll("teams").map(String),
    };
    if (plan) await api.patch(`${base}/${plan.id}`, body);
    else await api.post(base, { category, ...body });
    toast(t("saved"));
    view.reload();
  });
  return h("details", { class: "plan-block", dataset: { category } },
    h("summary", {}, h("strong", {}, categoryLabel(category, event)), " ",
      h("span", { class: plan ? "pill ok" : "pill muted-pill" }, t(plan ? "plans.has_plan" : "plans.no_plan"))),
    form);
}
