// The task board on the command centre: every task of the event by status
// (to do, doing, blocked, done) and by team, with the progress of each
// checklist and what is overdue. The `tasks` topic brings every change to a
// command screen (server/features/tasks.py); the list is read over HTTP at each
// snapshot and patched from each message after. Beside it, the event's run
// sheets: one imported from a CSV file (offset as T-120, title, team, staff,
// zone, priority, steps "a|b": server/features/run_sheets.py) and applied, once, at
// the event's start as doors-open.

import { errorText, teamName } from "../shared/codes.js";
import { addStrings, t } from "../shared/i18n.js";
import { formatClock, h } from "./dom.js";
import { TASK_STRINGS } from "./task_strings.js";

addStrings(TASK_STRINGS);

const STATUSES = ["todo", "doing", "blocked", "done"];

function teamWord(team) {
  return team ? teamName(team) : t("ctask.no_team");
}

/** A task's team: its own, else its person's on the roster (``people``: id → member). */
export function teamOf(task, people) {
  if (task.team) return task.team;
  const member = task.staff !== null && task.staff !== undefined ? people.get(task.staff) : null;
  return member ? member.team : "";
}

/** Whether a task is past its due time and not done (the same rule as server/features/task_rules.py overdue). */
export function isOverdue(task, now) {
  return task.status !== "done" && Boolean(task.due_at) && new Date(task.due_at) <= now;
}

/**
 * The board, a pure function of the tasks and the time: {columns: {status:
 * [tasks by due time]}, teams: [{team, done, total, overdue, blocked}],
 * done, total, overdue}.
 */
export function boardView(tasks, now, people = new Map()) {
  const byDue = (a, b) => String(a.due_at || "~").localeCompare(String(b.due_at || "~")) || a.id - b.id;
  const columns = Object.fromEntries(STATUSES.map((s) => [s, tasks.filter((task) => task.status === s).sort(byDue)]));
  const teams = new Map();
  for (const task of tasks) {
    const key = teamOf(task, people);
    const row = teams.get(key) || { team: key, done: 0, total: 0, overdue: 0, blocked: 0 };
    row.total += 1;
    row.done += task.status === "done" ? 1 : 0;
    row.blocked += task.status === "blocked" ? 1 : 0;
    row.overdue += isOverdue(task, now) ? 1 : 0;
    teams.set(key, row);
  }
  return {
    columns,
    teams: [...teams.values()].sort((a, b) => b.overdue - a.overdue || a.team.localeCompare(b.team)),
    done: columns.done.length,
    total: tasks.length,
    overdue: tasks.filter((task) => isOverdue(task, now)).length,
  };
}

export class CommandTasks {
  constructor({ onChange = () => {} } = {}) {
    this.api = null;
    this.event = null;
    this.tasks = [];
    this.sheets = [];
    this.reads = 0; // each read of the board, so an older one answering late is dropped
    this.people = new Map();
    this.onChange = onChange;
    this.dialog = this.#build();
    document.body.append(this.dialog);
    window.addEventListener("languagechange-muster", () => this.render());
  }

  #build() {
    this.titleEl = h("h2", { class: "dialog-title" });
    this.summary = h("p", { id: "task-summary", class: "task-summary" });
    this.closeButton = h("button", { type: "button", onclick: () => this.dialog.close() });
    this.columnsEl = h("div", { id: "task-columns", class: "task-columns" });
    this.teamsEl = h("section", { id: "task-teams", class: "task-teams" });
    this.sheetMessage = h("p", { id: "sheet-message", class: "sheet-message", role: "status" });
    // The browser's own file button speaks the browser's language: hidden, a label of ours instead.
    this.sheetFile = h("input", { id: "sheet-file", type: "file", accept: ".csv,text/csv", class: "visually-hidden", onchange: () => this.#import() });
    this.sheetButton = h("label", { id: "sheet-import", for: "sheet-file", class: "sheet-import" });
    this.sheetTitle = h("h3", {});
    this.sheetList = h("ul", { id: "sheet-list", class: "sheet-list" });
    this.sheetsEl = h("section", { id: "task-sheets", class: "task-sheets" }, this.sheetTitle, this.sheetList, this.sheetFile, this.sheetButton, this.sheetMessage);
    return h(
      "dialog",
      { id: "tasks-dialog", class: "dialog tasks-dialog" },
      h("div", { class: "dialog-header" }, this.titleEl, this.summary, this.closeButton),
      h("div", { class: "task-board" }, this.columnsEl, h("div", { class: "task-side" }, this.teamsEl, this.sheetsEl)),
    );
  }

  async open(api, event) {
    this.api = api;
    this.event = event;
    this.tasks = [];
    await this.load();
  }

  close() {
    this.event = null;
    if (this.dialog.open) this.dialog.close();
  }

  show() {
    this.render();
    if (!this.dialog.open) this.dialog.showModal();
  }

  /**
   * Read the board, the roster and the run sheets. A read begun before a
   * change made here (a sheet imported or applied) is dropped when it
   * answers, and the change reads again: otherwise its older list would put
   * back the board as it was, the new sheet gone.
   */
  async load() {
    if (!this.event) return;
    const mine = ++this.reads;
    const base = `/api/v1/events/${this.event.id}`;
    try {
      const [answer, roster, sheets] = await Promise.all([this.api.get(`${base}/tasks`), this.api.get(`${base}/staff`), this.api.get(`${base}/run-sheets`)]);
      if (mine !== this.reads) return;
      this.tasks = answer.tasks;
      this.people = new Map(roster.staff.map((member) => [member.id, member]));
      this.sheets = sheets.run_sheets;
    } catch (error) {
      console.warn("tasks", error);
    }
    this.render();
  }

  /** A message of the `tasks` topic. */
  receive(message) {
    if (message.type === "snapshot") return this.load();
    const task = message.data && message.data.task;
    if (!task) return;
    const at = this.tasks.findIndex((known) => known.id === task.id);
    if (at >= 0) this.tasks[at] = task;
    else this.tasks.push(task);
    this.render();
  }

  /** How many tasks are overdue now (the header's button). */
  overdue() {
    return boardView(this.tasks, new Date()).overdue;
  }

  render() {
    this.onChange();
    const view = boardView(this.tasks, new Date(), this.people);
    this.titleEl.textContent = t("ctask.title");
    this.closeButton.textContent = t("ctask.close");
    const parts = [t("ctask.progress", { done: view.done, total: view.total })];
    if (view.overdue) parts.push(t("ctask.overdue", { n: view.overdue }));
    this.summary.textContent = parts.join(" · ");
    this.summary.classList.toggle("bad", view.overdue > 0);
    this.columnsEl.replaceChildren(...STATUSES.map((status) => this.#column(status, view.columns[status])));
    this.teamsEl.replaceChildren(h("h3", {}, t("ctask.by_team")), this.#teams(view.teams));
    this.sheetTitle.textContent = t("ctask.sheets");
    this.sheetButton.textContent = t("ctask.sheet.import");
    this.sheetList.replaceChildren(...this.sheets.map((sheet) => this.#sheet(sheet)));
  }

  #sheet(sheet) {
    const facts = t("ctask.sheet.items", { n: sheet.items.length });
    return h(
      "li",
      { "data-sheet": String(sheet.id), "data-applied": sheet.applied_at ? "yes" : "no" },
      h("span", {}, `${sheet.name} · ${facts}`),
      sheet.applied_at ? h("span", { class: "muted" }, t("ctask.sheet.applied")) : h("button", { type: "button", class: "sheet-apply", onclick: () => this.#apply(sheet) }, t("ctask.sheet.apply")),
    );
  }

  #say(text, bad = false) {
    this.sheetMessage.textContent = text;
    this.sheetMessage.classList.toggle("bad", bad);
  }

  async #import() {
    const file = this.sheetFile.files && this.sheetFile.files[0];
    if (!file) return this.#say(t("ctask.sheet.choose"), true);
    try {
      const name = encodeURIComponent(file.name.replace(/\.csv$/i, ""));
      const sheet = await this.api.request("POST", `/api/v1/events/${this.event.id}/run-sheets?name=${name}`, await file.text(), { headers: { "Content-Type": "text/csv" } });
      this.sheets.push(sheet);
      this.sheetFile.value = "";
      this.#say(t("ctask.sheet.imported", { n: sheet.items.length }));
      this.load(); // and drop any read begun before it
    } catch (error) {
      this.#say(errorText(error), true);
    }
    this.render();
  }

  async #apply(sheet) {
    try {
      const answer = await this.api.post(`/api/v1/events/${this.event.id}/run-sheets/${sheet.id}/apply`, {});
      sheet.applied_at = new Date().toISOString();
      this.#say(t("ctask.sheet.made", { n: answer.created }));
      this.load();
    } catch (error) {
      this.#say(errorText(error), true);
    }
    this.render();
  }

  #column(status, tasks) {
    const now = new Date();
    return h(
      "section",
      { class: `task-column task-column-${status}`, "data-status": status },
      h("h3", {}, `${t(`ctask.status.${status}`)} · ${tasks.length}`),
      tasks.length ? h("ul", { class: "task-cards" }, ...tasks.map((task) => this.#card(task, now))) : h("p", { class: "muted" }, t("ctask.empty")),
    );
  }

  #card(task, now) {
    const late = isOverdue(task, now);
    const progress = task.progress || { done: 0, total: 0 };
    const share = progress.total ? Math.round((100 * progress.done) / progress.total) : task.status === "done" ? 100 : 0;
    const member = task.staff !== null ? this.people.get(task.staff) : null;
    const facts = [member ? member.name : "", teamWord(teamOf(task, this.people)), task.due_at ? t("ctask.due", { time: formatClock(new Date(task.due_at)) }) : "", progress.total ? t("ctask.steps", progress) : ""].filter(Boolean);
    return h(
      "li",
      { class: `task-card${late ? " late" : ""}`, "data-task": String(task.id) },
      h("div", { class: "task-card-head" }, h("strong", {}, task.title), late ? h("span", { class: "task-late" }, t("ctask.late")) : null),
      h("p", { class: "muted" }, facts.join(" · ")),
      task.status === "blocked" && task.blocked_reason ? h("p", { class: "task-blocked" }, task.blocked_reason) : null,
      h("div", { class: "meter" }, h("div", { class: "meter-fill", style: { width: `${share}%` } })),
    );
  }

  #teams(rows) {
    return h(
      "table",
      { class: "task-team-table" },
      h("thead", {}, h("tr", {}, ...["team", "done", "blocked", "overdue"].map((c) => h("th", {}, t(`ctask.col.${c}`))))),
      h(
        "tbody",
        {},
        ...rows.map((row) =>
          h(
            "tr",
            { "data-team": row.team, class: row.overdue ? "late" : "" },
            h("td", {}, teamWord(row.team)),
            h("td", {}, `${row.done}/${row.total}`),
            h("td", {}, String(row.blocked)),
            h("td", {}, String(row.overdue)),
          ),
        ),
      ),
    );
  }
}
