// Run sheets (流程表) in the console: a timed template of tasks relative to
// doors-open (T−120 "signage up", T+0 "doors open"…), made here or read from
// a CSV, changed until it is applied, and applied to the event once (the
// event's start is doors-open: server/features/run_sheets.py). A CSV is first checked
// without saving (POST …/run-sheets/check): its good rows land in the editor
// and its bad rows are listed by line with the server's codes, so nothing
// typed or imported is lost while the organiser mends the rest.

import { rowProblem } from "../../shared/codes.js";
import { language, t } from "../../shared/i18n.js";
import { formatInZone, isoToLocal } from "../../shared/time.js";
import { ask, clear, errorText, h, toast } from "./dom.js";
import { uploadCsv } from "./importer.js";
import { TEAMS, teamName } from "./staff.js";

export const PRIORITIES = ["high", "normal", "low"];

/** Doors-open plus `minutes`, as an ISO time (the same sum as server/features/task_rules.py due_from). */
export function dueFrom(doorsOpenIso, minutes) {
  return new Date(Date.parse(doorsOpenIso) + minutes * 60000).toISOString();
}

/** "12-01 07:00" on the wall clock of `tz`: short, the same in both languages. */
export function wallText(iso, tz) {
  const local = isoToLocal(iso, tz);
  return local ? `${local.slice(5, 10)} ${local.slice(11, 16)}` : "—";
}

/** An offset as people say it: "开门前 120 分钟" / "T−120". */
export function offsetText(minutes) {
  if (minutes === 0) return t("sheet.offset_zero");
  return t(minutes < 0 ? "sheet.offset_before" : "sheet.offset_after", { n: Math.abs(minutes) });
}

/** The teams a select offers: the built-in ones, then every other one known. */
export function teamOptions(known, selected) {
  const own = [...new Set([...known, selected].filter((x) => x && !TEAMS.includes(x)))].sort();
  return [h("option", { value: "" }, "—"),
    ...[...TEAMS, ...own].map((team) => h("option", { value: team, selected: team === selected }, teamName(team)))];
}

function errorLines(errors) {
  return errors.map((row) => (row.line ? t("staff.row_line", { line: row.line, problem: rowProblem(row) }) : rowProblem(row)));
}

/**
 * The run sheets card and its editor. `context` has the view, the roster,
 * the zones and `onApplied()` (the tasks list reads again).
 */
export function runSheetsCard(view, context) {
  const { api, event } = view;
  const base = `/api/v1/events/${event.id}/run-sheets`;
  const tz = event.timezone;
  const listBody = h("tbody");
  const editorCard = h("section", { class: "card hidden", id: "sheet-editor" });
  let sheets = [];

  // --- the list ----------------------------------------------------------------
  function stateCell(sheet) {
    if (!sheet.applied_at) return h("span", { class: "pill muted-pill" }, t("sheet.not_applied"));
    return h("span", { class: "pill ok", title: sheet.applied_at }, t("sheet.applied_at", { time: formatInZone(sheet.applied_at, tz, language()) }));
  }

  function sheetRow(sheet) {
    const applied = Boolean(sheet.applied_at);
    return h("tr", { dataset: { sheet: String(sheet.id), applied: applied ? "yes" : "no" } },
      h("td", {}, sheet.name),
      h("td", { class: "num" }, t("sheet.items_n", { n: sheet.items.length })),
      h("td", { class: "state" }, stateCell(sheet)),
      h("td", { class: "actions" },
        h("button", { type: "button", class: "small", dataset: { action: "edit" }, onclick: () => openEditor(sheet) }, t(applied ? "sheet.view" : "sheet.edit")),
        applied ? null : h("button", { type: "button", class: "small primary", dataset: { action: "apply" }, onclick: () => applySheet(sheet) }, t("sheet.apply")),
        applied ? null : h("button", { type: "button", class: "small danger-outline", dataset: { action: "delete" }, onclick: () => deleteSheet(sheet) }, t("sheet.delete"))));
  }

  async function loadSheets() {
    ({ run_sheets: sheets } = await api.get(base));
    if (view.stale()) return;
    clear(listBody, sheets.length ? sheets.map(sheetRow) : h("tr", {}, h("td", { colspan: 4, class: "empty muted" }, t("sheet.none"))));
  }

  async function applySheet(sheet) {
    const answer = await ask({
      title: t("sheet.apply_title", { name: sheet.name }),
      message: t("sheet.apply_help", { n: sheet.items.length, time: formatInZone(event.starts_at, tz, language()), zone: tz }),
      confirmLabel: t("sheet.apply"),
    });
    if (answer === null) return;
    try {
      const made = await api.post(`${base}/${sheet.id}/apply`, {});
      toast(t("sheet.made", { n: made.created }));
      closeEditor();
      await loadSheets();
      await context.onApplied();
    } catch (err) {
      toast(errorText(err), "bad");
    }
  }

  async function deleteSheet(sheet) {
    const answer = await ask({ title: t("sheet.delete_title", { name: sheet.name }), message: t("sheet.delete_help"), confirmLabel: t("sheet.delete"), danger: true });
    if (answer === null) return;
    try {
      await api.delete(`/api/v1/run-sheets/${sheet.id}`);
      toast(t("sheet.deleted", { name: sheet.name }));
      closeEditor();
      await loadSheets();
    } catch (err) {
      toast(errorText(err), "bad");
    }
  }

  // --- the editor --------------------------------------------------------------
  const editor = { sheet: null, readOnly: false };
  const nameInput = h("input", { name: "sheet_name", id: "sheet-name", required: true, maxlength: 200 });
  const itemsBody = h("tbody", { id: "sheet-items" });
  const problems = h("div", { class: "form-error hidden", role: "alert", id: "sheet-problems" });
  const saveButton = h("button", { type: "submit", class: "primary", id: "sheet-save" }, t("action.save"));
  const addButton = h("button", { type: "button", id: "sheet-add-item", onclick: () => addItemRow({ offset_minutes: 0, title: "" }, true) }, t("sheet.add_item"));
  const editorTitle = h("h2", {});
  const form = h("form", { class: "form", id: "sheet-form" },
    h("label", { class: "field" }, h("span", {}, t("sheet.name")), nameInput),
    h("p", { class: "muted", id: "sheet-doors" }, t("sheet.doors_open", { time: formatInZone(event.starts_at, tz, language()), zone: tz })),
    problems,
    h("div", { class: "table-scroll" },
      h("table", { class: "table sheet-items" },
        h("thead", {}, h("tr", {}, ["sheet.col.offset", "sheet.col.due", "sheet.col.title", "sheet.col.team", "sheet.col.person", "sheet.col.zone", "sheet.col.priority", "sheet.col.steps"].map((k) => h("th", {}, t(k))), h("th"))),
        itemsBody)),
    h("div", { class: "buttons" }, addButton, saveButton,
      h("button", { type: "button", id: "sheet-close", onclick: () => closeEditor() }, t("action.cancel"))));
  clear(editorCard, h("div", { class: "card-head" }, editorTitle), form);

  function teamsKnown() {
    return [...context.roster.map((m) => m.team), ...[...itemsBody.querySelectorAll("select[name=team]")].map((s) => s.value)];
  }

  function addItemRow(item, focus = false) {
    const offset = h("input", { name: "offset", type: "number", min: -10080, max: 10080, step: 1, required: true, value: String(item.offset_minutes), class: "offset-input", "aria-label": t("sheet.col.offset") });
    const offsetWords = h("small", { class: "muted offset-words" });
    const due = h("td", { class: "due" });
    const showDue = () => {
      const minutes = Number(offset.value);
      const ok = offset.value !== "" && Number.isInteger(minutes);
      offsetWords.textContent = ok ? offsetText(minutes) : "";
      due.textContent = ok ? wallText(dueFrom(event.starts_at, minutes), tz) : "—";
    };
    offset.addEventListener("input", showDue);
    const row = h("tr", { class: "item" },
      h("td", {}, offset, offsetWords),
      due,
      h("td", {}, h("input", { name: "title", required: true, maxlength: 200, value: item.title || "", "aria-label": t("sheet.col.title") })),
      h("td", {}, h("select", { name: "team", "aria-label": t("sheet.col.team") }, teamOptions(teamsKnown(), item.team || ""))),
      h("td", {}, h("select", { name: "staff", "aria-label": t("sheet.col.person") }, h("option", { value: "" }, "—"),
        context.roster.map((m) => h("option", { value: String(m.id), selected: m.id === item.staff }, m.name)))),
      h("td", {}, h("select", { name: "zone", "aria-label": t("sheet.col.zone") }, h("option", { value: "" }, "—"),
        context.zones.map((z) => h("option", { value: String(z.id), selected: z.id === item.zone }, z.name)))),
      h("td", {}, h("select", { name: "priority", "aria-label": t("sheet.col.priority") },
        PRIORITIES.map((p) => h("option", { value: p, selected: p === (item.priority || "normal") }, t(`task.priority.${p}`))))),
      h("td", {}, h("input", { name: "steps", maxlength: 2000, value: (item.steps || []).join(" | "), placeholder: t("sheet.steps_placeholder"), "aria-label": t("sheet.col.steps") })),
      h("td", { class: "actions" }, h("button", { type: "button", class: "small danger-outline", dataset: { action: "remove-item" }, onclick: () => row.remove() }, t("sheet.remove_item"))));
    showDue();
    itemsBody.append(row);
    if (focus) row.querySelector("[name=title]").focus();
  }

  function itemsOf() {
    return [...itemsBody.querySelectorAll("tr.item")].map((row) => {
      const value = (name) => row.querySelector(`[name=${name}]`).value;
      return {
        offset_minutes: Number(value("offset")),
        title: value("title").trim(),
        team: value("team") || null,
        staff: value("staff") ? Number(value("staff")) : null,
        zone: value("zone") ? Number(value("zone")) : null,
        priority: value("priority"),
        steps: value("steps").split("|").map((s) => s.trim()).filter(Boolean),
      };
    });
  }

  function openEditor(sheet, name = "") {
    editor.sheet = sheet;
    editor.readOnly = Boolean(sheet && sheet.applied_at);
    editorTitle.textContent = sheet ? (editor.readOnly ? t("sheet.view_title", { name: sheet.name }) : t("sheet.edit_title", { name: sheet.name })) : t("sheet.new_title");
    nameInput.value = sheet ? sheet.name : name;
    problems.classList.add("hidden");
    itemsBody.replaceChildren();
    for (const item of sheet ? sheet.items : []) addItemRow(item);
    if (!sheet && !name) addItemRow({ offset_minutes: -120, title: "" });
    for (const control of form.querySelectorAll("input, select, button[data-action]")) control.disabled = editor.readOnly;
    saveButton.classList.toggle("hidden", editor.readOnly);
    addButton.classList.toggle("hidden", editor.readOnly);
    editorCard.dataset.applied = editor.readOnly ? "yes" : "no";
    editorCard.classList.remove("hidden");
    editorCard.scrollIntoView({ block: "nearest" });
    if (!editor.readOnly) nameInput.focus();
  }

  function closeEditor() {
    editor.sheet = null;
    editorCard.classList.add("hidden");
  }

  function showProblems(err, errors) {
    const lines = errorLines(errors);
    clear(problems, h("strong", {}, err ? errorText(err) : t("sheet.csv_problems", { n: lines.length })),
      lines.length ? h("ul", {}, lines.map((l) => h("li", {}, l))) : null);
    problems.classList.remove("hidden");
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { name: nameInput.value.trim(), items: itemsOf() };
    problems.classList.add("hidden");
    if (!body.items.length) {
      clear(problems, h("strong", {}, t("sheet.no_items")));
      return problems.classList.remove("hidden");
    }
    saveButton.disabled = true;
    try {
      if (editor.sheet) await api.patch(`/api/v1/run-sheets/${editor.sheet.id}`, body);
      else await api.post(base, body);
      toast(t("sheet.saved", { name: body.name }));
      closeEditor();
      await loadSheets();
    } catch (err) {
      const details = (err && err.details) || {};
      showProblems(err, Array.isArray(details.errors) ? details.errors : []);
    } finally {
      saveButton.disabled = false;
    }
  });

  // --- the CSV: checked, good rows into the editor, bad rows listed --------------
  const picker = h("input", { type: "file", accept: ".csv,text/csv", id: "sheet-csv", class: "visually-hidden" });
  picker.addEventListener("change", async () => {
    const file = picker.files[0];
    picker.value = "";
    if (!file) return;
    try {
      const checked = await uploadCsv(`${base}/check`, file, () => {});
      if (!editor.sheet || editor.readOnly) openEditor(null, file.name.replace(/\.csv$/i, ""));
      for (const item of checked.items) addItemRow(item);
      if (checked.errors.length) showProblems(null, checked.errors);
      toast(t("sheet.csv_read", { n: checked.items.length }), checked.errors.length ? "warn" : "ok");
    } catch (err) {
      openEditor(null, file.name.replace(/\.csv$/i, ""));
      showProblems(err, (err.details && err.details.errors) || []);
    }
  });

  const card = h("section", { class: "card", id: "run-sheets" },
    h("div", { class: "card-head" }, h("h2", {}, t("sheet.title")),
      h("div", { class: "buttons" },
        h("button", { type: "button", id: "sheet-new", onclick: () => openEditor(null) }, t("sheet.new")),
        h("label", { for: "sheet-csv", class: "button-like", id: "sheet-import" }, t("sheet.import")), picker)),
    h("p", { class: "muted" }, t("sheet.help")),
    h("table", { class: "table", id: "sheet-list" },
      h("thead", {}, h("tr", {}, ["sheet.name", "sheet.col.items", "sheet.col.state"].map((k) => h("th", {}, t(k))), h("th"))),
      listBody));
  return { card, editorCard, load: loadSheets };
}
