// Incident categories and emergency plans (应急预案). The categories staff
// pick from live in the event's options ("incident_categories"); each can
// have a plan: a title and steps in Markdown, in Chinese and in English,
// attached to every incident of that category.

import { PageError, categoryLabel } from "../../shared/codes.js";
import { language, t } from "../../shared/i18n.js";
import { clear, errorText, h, onSubmit, toast } from "./dom.js";
import { renderMarkdown } from "../../shared/markdown.js";

/** The categories an event has until the organiser changes them. */
export const DEFAULT_CATEGORIES = ["equipment_failure", "power", "network", "medical", "security", "facility", "crowd", "other"];

/**
 * The event's categories: options.incident_categories, a list of keys, or
 * the defaults (server/incidents.py event_categories — keep the two in step).
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

function categoriesCard(view, categories) {
  const { api, event } = view;
  const rows = h("div", { class: "rows category-rows" });
  const addRow = (key = "") => {
    const input = h("input", { name: "key", value: key, required: true, maxlength: 32, "aria-label": t("category.key"), placeholder: t("category.key_placeholder") });
    const label = h("span", { class: "muted" }, key ? categoryLabel(key) : "");
    input.addEventListener("input", () => { label.textContent = categoryLabel(input.value.trim()); });
    const row = h("div", { class: "item category" }, input, label,
      h("button", { type: "button", class: "small", title: t("action.remove"), "aria-label": t("action.remove"), onclick: () => row.remove() }, "✕"));
    rows.append(row);
    return input;
  };
  categories.forEach((key) => addRow(key));
  const form = h("form", { class: "form", id: "categories-form" }, rows,
    h("div", { class: "buttons" },
      h("button", { type: "button", id: "category-add", onclick: () => addRow().focus() }, t("category.add")),
      h("button", { type: "submit", class: "primary" }, t("action.save"))));
  onSubmit(form, async () => {
    const keys = [...rows.querySelectorAll("[name=key]")].map((input) => input.value.trim()).filter(Boolean);
    if (!keys.length) throw new PageError(t("category.none"));
    await api.patch(`/api/v1/events/${event.id}`, { options: { ...(event.options || {}), incident_categories: [...new Set(keys)] } });
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
  const form = h("form", { class: "plan" },
    h("div", { class: "row" },
      h("label", { class: "field" }, h("span", {}, t("plans.title_zh")), h("input", { name: "title_zh", maxlength: 200, value: plan ? plan.title.zh : "" })),
      h("label", { class: "field" }, h("span", {}, t("plans.title_en")), h("input", { name: "title_en", maxlength: 200, value: plan ? plan.title.en : "" }))),
    h("div", { class: "row" },
      h("label", { class: "field" }, h("span", {}, t("plans.steps_zh")), stepsZh),
      h("label", { class: "field" }, h("span", {}, t("plans.steps_en")), stepsEn)),
    h("p", { class: "muted small-text" }, t("plans.syntax")),
    h("div", { class: "preview-wrap" }, h("span", { class: "muted" }, t("plans.preview")), preview),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, t(plan ? "action.save" : "plans.create"))));
  onSubmit(form, async (data) => {
    const body = {
      title_zh: String(data.get("title_zh") || "").trim(),
      title_en: String(data.get("title_en") || "").trim(),
      steps_zh: String(data.get("steps_zh") || ""),
      steps_en: String(data.get("steps_en") || ""),
    };
    if (plan) await api.patch(`${base}/${plan.id}`, body);
    else await api.post(base, { category, ...body });
    toast(t("saved"));
    view.reload();
  });
  return h("details", { class: "plan-block", dataset: { category } },
    h("summary", {}, h("strong", {}, categoryLabel(category)), " ",
      h("span", { class: plan ? "pill ok" : "pill muted-pill" }, t(plan ? "plans.has_plan" : "plans.no_plan"))),
    form);
}
