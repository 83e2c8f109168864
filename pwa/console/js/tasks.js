// Tasks (任务) planned before the day, and the run sheets that make them
// (run_sheets.js). The organiser lists the event's tasks by team and status,
// filters them, adds one (title, description, team or roster person, zone,
// due time on the event's clock, priority, steps) or changes one. A change
// is a PATCH /tasks/{id} with a nonce, like every other client's: a save
// retried after a network failure sends the same nonce, so it lands once
// (server/features/tasks.py). The day itself runs on the command centre's board and
// the phones.

import { t } from "../../shared/i18n.js";
import { newNonce } from "../../shared/outbox.js";
import { isoToLocal, localToIso } from "../../shared/time.js";
import { clear, clearError, errorText, field, h, showError, toast } from "./dom.js";
import { PRIORITIES, runSheetsCard, teamOptions, wallText } from "./run_sheets.js";
import { TEAMS, teamName } from "./staff.js";

const STATUSES = ["todo", "doing", "blocked", "done"];
const OWN_TEAM = "__own";
const NO_TEAM = "__none";

/** A task's team: its own, else its person's on the roster (as the command centre's board: pwa/command/tasks.js teamOf). */
function teamOf(task, people) {
  if (task.team) return task.team;
  const member = task.staff != null ? people.get(task.staff) : null;
  return member ? member.team : "";
}

/** The tasks that pass the filters, grouped by team (teams in order, "no team" last). */
export function tasksByTeam(tasks, people, { team = "", status = "" } = {}) {
  const groups = new Map();
  for (const task of tasks) {
    const key = teamOf(task, people);
    if (team && (team === NO_TEAM ? key !== "" : key !== team)) continue;
    if (status && task.status !== status) continue;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(task);
  }
  const order = (key) => (key === "" ? [2, ""] : TEAMS.includes(key) ? [0, String(TEAMS.indexOf(key))] : [1, key]);
  return [...groups.entries()].sort(([a], [b]) => {
    const [x, y] = [order(a), order(b)];
    return x[0] - y[0] || x[1].localeCompare(y[1]);
  });
}

/** One nonce for each body: a retry of the same save repeats it, a different save gets its own. */
function nonceKeeper() {
  let last = { body: "", nonce: "" };
  return {
    nonceFor(body) {
      const text = JSON.stringify(body);
      if (text !== last.body) last = { body: text, nonce: newNonce() };
      return last.nonce;
    },
    done() {
      last = { body: "", nonce: "" };
    },
  };
}

export async function showTasks(view) {
  const { api, event } = view;
  const base = `/api/v1/events/${event.id}`;
  const tz = event.timezone;
  const [{ zones }, { staff: roster }] = await Promise.all([api.get(`${base}/zones`), api.get(`${base}/staff`)]);
  if (view.stale()) return;
  const liveZones = zones.filter((z) => !z.archived_at);
  const zoneName = new Map(zones.map((z) => [z.id, z.name]));
  const people = new Map(roster.map((m) => [m.id, m]));
  const nonces = nonceKeeper();
  let tasks = [];
  let editing = null;

  // --- the task form --------------------------------------------------------------
  const teamSelect = h("select", { name: "team" });
  const ownTeam = h("input", { name: "team_own", maxlength: 40, placeholder: t("staff.team_own_placeholder"), class: "hidden" });
  const fillTeams = (selected) => {
    clear(teamSelect, teamOptions(roster.map((m) => m.team), selected), h("option", { value: OWN_TEAM }, t("staff.team_own")));
    ownTeam.value = "";
    ownTeam.classList.add("hidden");
  };
  teamSelect.addEventListener("change", () => ownTeam.classList.toggle("hidden", teamSelect.value !== OWN_TEAM));
  const stepsInput = h("textarea", { name: "steps", rows: 3, maxlength: 5000, placeholder: t("task.steps_placeholder") });
  const stepsHint = h("small", { class: "muted hidden", id: "task-steps-hint" }, t("task.steps_kept"));
  const form = h("form", { class: "form", id: "task-form" },
    field("task.title", h("input", { name: "title", required: true, maxlength: 200 })),
    field("task.description", h("textarea", { name: "description", rows: 2, maxlength: 4000 })),
    h("div", { class: "row" },
      field("task.team", h("div", { class: "row" }, teamSelect, ownTeam)),
      field("task.person", h("select", { name: "staff" }, h("option", { value: "" }, "—"),
        roster.map((m) => h("option", { value: String(m.id) }, `${m.name} · ${teamName(m.team)}`))))),
    h("div", { class: "row" },
      field("task.zone", h("select", { name: "zone" }, h("option", { value: "" }, "—"), liveZones.map((z) => h("option", { value: String(z.id) }, z.name)))),
      field("task.priority", h("select", { name: "priority" }, PRIORITIES.map((p) => h("option", { value: p, selected: p === "normal" }, t(`task.priority.${p}`)))))),
    field("task.due", h("input", { name: "due_at", type: "datetime-local" }), t("task.due_hint", { zone: tz })),
    h("label", { class: "field" }, h("span", {}, t("task.steps")), stepsInput, stepsHint),
    h("div", { class: "buttons" },
      h("button", { type: "submit", class: "primary", id: "task-submit" }, t("task.add")),
      h("button", { type: "button", class: "hidden", id: "task-cancel", onclick: () => startEditing(null) }, t("action.cancel"))));
  const formTitle = h("h2", {}, t("task.form_title"));

  function startEditing(task) {
    editing = task;
    form.reset();
    clearError(form);
    nonces.done();
    formTitle.textContent = task ? t("task.edit_title", { title: task.title }) : t("task.form_title");
    form.querySelector("#task-submit").textContent = t(task ? "action.save" : "task.add");
    form.querySelector("#task-cancel").classList.toggle("hidden", !task);
    stepsHint.classList.toggle("hidden", !task);
    fillTeams(task ? task.team || "" : "");
    form.elements.priority.value = "normal";
    if (!task) return;
    form.elements.title.value = task.title;
    form.elements.description.value = task.description || "";
    form.elements.staff.value = task.staff == null ? "" : String(task.staff);
    form.elements.zone.value = task.zone == null ? "" : String(task.zone);
    form.elements.priority.value = task.priority;
    form.elements.due_at.value = isoToLocal(task.due_at, tz);
    stepsInput.value = task.steps.map((s) => s.title).join("\n");
    form.elements.title.focus();
    form.scrollIntoView({ block: "nearest" });
  }

  function formBody() {
    const data = new FormData(form);
    const team = teamSelect.value === OWN_TEAM ? String(data.get("team_own") || "").trim() : teamSelect.value;
    const due = String(data.get("due_at") || "");
    return {
      title: String(data.get("title") || "").trim(),
      description: String(data.get("description") || "").trim(),
      team: team || null,
      staff: data.get("staff") ? Number(data.get("staff")) : null,
      zone: data.get("zone") ? Number(data.get("zone")) : null,
      due_at: due ? localToIso(due, tz) : null,
      priority: String(data.get("priority")),
    };
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearError(form);
    const body = formBody();
    const button = form.querySelector("#task-submit");
    button.disabled = true;
    try {
      const steps = stepsInput.value.split("\n").map((s) => s.trim()).filter(Boolean);
      if (editing) {
        // The checklist only when it changed: a step kept by title keeps its tick (server/features/task_rules.py kept_steps).
        const before = editing.steps.map((step) => step.title);
        const change = JSON.stringify(before) === JSON.stringify(steps) ? body : { ...body, step_titles: steps };
        await api.patch(`/api/v1/tasks/${editing.id}`, { ...change, nonce: nonces.nonceFor({ task: editing.id, ...change }) });
        nonces.done();
      } else {
        await api.post(`${base}/tasks`, { ...body, steps });
      }
      toast(t(editing ? "task.saved" : "task.added", { title: body.title }));
      startEditing(null);
      await loadTasks();
    } catch (err) {
      showError(form, err);
    } finally {
      button.disabled = false;
    }
  });

  // --- the list ----------------------------------------------------------------------
  const teamFilter = h("select", { id: "task-filter-team", "aria-label": t("task.filter_team") });
  const statusFilter = h("select", { id: "task-filter-status", "aria-label": t("task.filter_status") },
    h("option", { value: "" }, t("task.all_statuses")), STATUSES.map((s) => h("option", { value: s }, t(`task.status.${s}`))));
  const listEl = h("div", { id: "task-groups" });
  const summary = h("span", { class: "muted", id: "task-summary" });
  for (const select of [teamFilter, statusFilter]) select.addEventListener("change", () => renderList());

  function fillTeamFilter() {
    const chosen = teamFilter.value;
    const teams = [...new Set(tasks.map((task) => teamOf(task, people)))];
    const named = [...TEAMS.filter((x) => teams.includes(x)), ...teams.filter((x) => x && !TEAMS.includes(x)).sort()];
    clear(teamFilter, h("option", { value: "" }, t("task.all_teams")),
      named.map((team) => h("option", { value: team }, teamName(team))),
      teams.includes("") ? h("option", { value: NO_TEAM }, t("task.no_team")) : null);
    teamFilter.value = [...teamFilter.options].some((o) => o.value === chosen) ? chosen : "";
  }

  function dueCell(task) {
    if (!task.due_at) return h("td", { class: "due muted" }, "—");
    const late = task.status !== "done" && new Date(task.due_at) <= new Date();
    return h("td", { class: `due${late ? " late" : ""}`, title: `${task.due_at} · ${tz}` }, wallText(task.due_at, tz));
  }

  function taskRow(task) {
    const member = task.staff != null ? people.get(task.staff) : null;
    return h("tr", { dataset: { task: String(task.id), status: task.status } },
      h("td", {}, h("strong", {}, task.title), task.run_sheet_item != null ? h("span", { class: "pill muted-pill", title: t("task.from_sheet") }, t("task.from_sheet_short")) : null,
        task.description ? h("div", { class: "muted small-text" }, task.description) : null),
      h("td", {}, member ? member.name : "—"),
      h("td", {}, task.zone != null ? zoneName.get(task.zone) || `#${task.zone}` : "—"),
      dueCell(task),
      h("td", {}, h("span", { class: `pill priority-${task.priority}` }, t(`task.priority.${task.priority}`))),
      h("td", {}, h("span", { class: `pill status-${task.status}`, title: task.blocked_reason || null }, t(`task.status.${task.status}`))),
      h("td", { class: "num" }, task.progress.total ? t("task.steps_done", task.progress) : "—"),
      h("td", { class: "actions" }, h("button", { type: "button", class: "small", dataset: { action: "edit" }, onclick: () => startEditing(task) }, t("task.edit"))));
  }

  function renderList() {
    const groups = tasksByTeam(tasks, people, { team: teamFilter.value, status: statusFilter.value });
    const shown = groups.reduce((n, [, list]) => n + list.length, 0);
    const done = tasks.filter((task) => task.status === "done").length;
    summary.textContent = t("task.summary", { n: tasks.length, done, shown });
    if (!groups.length) return clear(listEl, h("p", { class: "empty muted" }, t(tasks.length ? "task.none_match" : "task.none")));
    // One table, a body per team: the columns line up from team to team.
    clear(listEl, h("table", { class: "table task-table" },
      h("thead", {}, h("tr", {}, ["task.title", "task.person", "task.zone", "task.due_short", "task.priority", "task.status", "task.steps"].map((k) => h("th", {}, t(k))), h("th"))),
      groups.map(([team, list]) => h("tbody", { class: "task-group", dataset: { team: team || NO_TEAM } },
        h("tr", { class: "group-head" }, h("th", { colspan: 8 }, team ? teamName(team) : t("task.no_team"), h("span", { class: "muted" }, ` · ${list.length}`))),
        list.map(taskRow)))));
  }

  async function loadTasks() {
    ({ tasks } = await api.get(`${base}/tasks`));
    if (view.stale()) return;
    fillTeamFilter();
    renderList();
  }

  const sheets = runSheetsCard(view, { roster, zones: liveZones, onApplied: loadTasks });
  clear(view.main,
    h("div", { class: "page-head" }, h("h1", {}, t("nav.tasks")), h("p", { class: "muted" }, t("task.help", { zone: tz }))),
    h("div", { class: "grid-2 wide-right" },
      h("section", { class: "card", id: "task-form-card" }, formTitle, form),
      sheets.card),
    sheets.editorCard,
    h("section", { class: "card", id: "tasks" },
      h("div", { class: "card-head" }, h("h2", {}, t("task.list_title")), summary,
        h("div", { class: "row filters" }, teamFilter, statusFilter,
          h("button", { type: "button", id: "task-refresh", onclick: () => loadTasks().catch((err) => toast(errorText(err), "bad")) }, t("action.refresh")))),
      listEl));
  fillTeams("");
  await Promise.all([sheets.load(), loadTasks()]);
}
