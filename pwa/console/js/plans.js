// Incident categories and emergency plans (应急预案). The categories staff
// pick from live in the event's options ("incident_categories"); each can
// have a plan: a title and steps in Markdown, in Chinese and in English,
// attached to every incident of that category.

import { language, t } from "../../shared/i18n.js";
import { clear, errorText, h, onSubmit, toast } from "./dom.js";
import { renderMarkdown } from "./markdown.js";

/** The categories an event has until the organiser changes them (as the incidents API defaults). */
export const DEFAULT_CATEGORIES = ["equipment", "power", "network", "medical", "security", "facility", "crowd", "other"];

const KEY_PATTERN = /^[a-z0-9_-]{1,32}$/;

/** Categories from the event's options: a list of keys, or of {key, zh, en}. */
export function eventCategories(event) {
  const raw = event.options && event.options.incident_categories;
  const list = Array.isArray(raw) && raw.length ? raw : DEFAULT_CATEGORIES;
  return list.map((c) => (typeof c === "string" ? { key: c } : { key: c.key || c.id, zh: c.zh, en: c.en })).filter((c) => c.key);
}

export function categoryLabel(category) {
  const own = category[language()];
  if (own) return own;
  const known = `category.${category.key}`;
  const text = t(known);
  return text === known ? category.key : text;
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
  clear(view.main,
    h("div", { class: "page-head" }, h("h1", {}, t("nav.plans")), h("p", { class: "muted" }, t("plans.help"))),
    h("div", { class: "grid-2 wide-right" },
      categoriesCard(view, categories),
      h("section", { class: "card", id: "plans" }, h("h2", {}, t("plans.title")),
        plansError
          ? h("div", { class: "form-error", role: "alert" }, errorText(plansError))
          : categories.map((c) => planForm(view, c, byCategory.get(c.key))))));
}

function categoriesCard(view, categories) {
  const { api, event } = view;
  const rows = h("div", { class: "rows category-rows" },
    h("div", { class: "row-head" }, h("span", {}, t("category.key")), h("span", {}, "中文"), h("span", {}, "English"), h("span")));
  const addRow = (c = { key: "" }) => {
    const row = h("div", { class: "item category" },
      h("input", { name: "key", value: c.key, required: true, pattern: KEY_PATTERN.source, "aria-label": t("category.key"), placeholder: "e.g. catering" }),
      h("input", { name: "zh", value: c.zh || (c.key ? tIn("zh", c.key) : ""), "aria-label": "中文" }),
      h("input", { name: "en", value: c.en || (c.key ? tIn("en", c.key) : ""), "aria-label": "English" }),
      h("button", { type: "button", class: "small", "aria-label": t("action.remove"), onclick: () => row.remove() }, "✕"));
    rows.append(row);
  };
  categories.forEach(addRow);
  const form = h("form", { class: "form", id: "categories-form" }, rows,
    h("div", { class: "buttons" },
      h("button", { type: "button", onclick: () => addRow() }, t("category.add")),
      h("button", { type: "submit", class: "primary" }, t("action.save"))));
  onSubmit(form, async () => {
    const list = [...rows.querySelectorAll(".item.category")].map((row) => ({
      key: row.querySelector("[name=key]").value.trim(),
      zh: row.querySelector("[name=zh]").value.trim(),
      en: row.querySelector("[name=en]").value.trim(),
    }));
    const bad = list.find((c) => !KEY_PATTERN.test(c.key));
    if (bad) throw Object.assign(new Error(t("category.bad_key", { key: bad.key })), { details: [{ field: "key", message: t("category.bad_key", { key: bad.key }) }] });
    await api.patch(`/api/v1/events/${event.id}`, { options: { ...(event.options || {}), incident_categories: list } });
    toast(t("saved"));
    view.reload();
  });
  return h("section", { class: "card", id: "categories" }, h("h2", {}, t("category.title")), h("p", { class: "muted" }, t("category.help")), form);
}

/** A category's built-in name in one language (for the first edit of the defaults). */
function tIn(lang, key) {
  const names = CATEGORY_NAMES[key];
  return names ? names[lang] : "";
}

const CATEGORY_NAMES = {
  equipment: { zh: "设备故障", en: "Equipment failure" },
  power: { zh: "电力", en: "Power" },
  network: { zh: "网络", en: "Network" },
  medical: { zh: "医疗", en: "Medical" },
  security: { zh: "安保", en: "Security" },
  facility: { zh: "场地设施", en: "Facility" },
  crowd: { zh: "人流", en: "Crowd" },
  other: { zh: "其他", en: "Other" },
};

function planForm(view, category, plan) {
  const { api, event } = view;
  const base = `/api/v1/events/${event.id}/plans`;
  const preview = h("div", { class: "plan-preview" });
  const stepsZh = h("textarea", { name: "steps_zh", rows: 6, placeholder: "1. 确认现场安全\n2. 通知…" }, plan ? plan.steps_zh : "");
  const stepsEn = h("textarea", { name: "steps_en", rows: 6, placeholder: "1. Make the area safe\n2. Call…" }, plan ? plan.steps_en : "");
  const showPreview = () => clear(preview, renderMarkdown(language() === "zh" ? stepsZh.value : stepsEn.value));
  stepsZh.addEventListener("input", showPreview);
  stepsEn.addEventListener("input", showPreview);
  showPreview();
  const form = h("form", { class: "plan", dataset: { category: category.key } },
    h("div", { class: "row" },
      h("label", { class: "field" }, h("span", {}, t("plans.title_zh")), h("input", { name: "title_zh", maxlength: 200, value: plan ? plan.title_zh : "" })),
      h("label", { class: "field" }, h("span", {}, t("plans.title_en")), h("input", { name: "title_en", maxlength: 200, value: plan ? plan.title_en : "" }))),
    h("div", { class: "row" },
      h("label", { class: "field" }, h("span", {}, t("plans.steps_zh")), stepsZh),
      h("label", { class: "field" }, h("span", {}, t("plans.steps_en")), stepsEn)),
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
    else await api.post(base, { category: category.key, ...body });
    toast(t("saved"));
    view.reload();
  });
  return h("details", { class: "plan-block", open: false },
    h("summary", {}, h("strong", {}, categoryLabel(category)), " ",
      h("span", { class: plan ? "pill ok" : "pill muted-pill" }, t(plan ? "plans.has_plan" : "plans.no_plan"))),
    form);
}
