// The task board on the staff phone: "my tasks" (the roster member holding
// the phone) and "my team's tasks". The `tasks` topic brings only this
// phone's tasks (the server checks each message's audience per socket, as
// for broadcasts: server/features/tasks.py task_audience); the list is read over HTTP
// at each snapshot and kept in IndexedDB, so it shows offline.
//
// A tick or a status tap is stored first and sent after, through the shared
// outbox (pwa/shared/outbox.js) with a nonce and the time it was made: the
// server applies each change once (PATCH /tasks/{id}, server/features/tasks.py
// change_task), so a queue flushed twice ticks once. While a change waits,
// the phone shows it applied on top of the last list it had (taskView).
// Status moves are the server's to decide (server/features/task_rules.py transition);
// a refused one is dropped and the next list shows the server's status.
//
// Due-soon reminders are decided here, on the phone (dueSoon), from the list
// it holds: they work with no network. The server pushes them too (a
// `due_soon` message of the `tasks` topic, server/features/tasks.py remind_due_tasks,
// the same 15 minutes: server/features/task_rules.py REMIND_BEFORE), so a phone whose
// clock runs slow is reminded on the server's time all the same. Each task reminds once (a buzz and
// a beep, a banner, a mark on the tab); overdue ones are the server's alerts
// to the command centre (server/features/tasks.py check_overdue_tasks).

import { errorText } from "/shared/codes.js";
import { addStrings, formatTime, t } from "/shared/i18n.js";
import { Outbox, isRetryable, newNonce } from "/shared/outbox.js";
import { el } from "./element.js";
import { signal } from "./feedback.js";
import { TASK_STRINGS } from "./task_strings.js";
import * as store from "./store.js";

addStrings(TASK_STRINGS);

const LIST_KEY = "tasks";
const ME_KEY = "tasks-me";
const REMINDED_KEY = "tasks-reminded";
/** How long before its due time a task reminds the phone holding it. */
export const DUE_SOON_MS = 15 * 60 * 1000;
const CHECK_EVERY_MS = 30 * 1000;

/** The open tasks due within ``DUE_SOON_MS`` of ``now`` (not yet past due), soonest first. */
export function dueSoon(tasks, now) {
  const at = now.getTime();
  return tasks
    .filter((task) => task.status !== "done" && task.due_at)
    .filter((task) => {
      const due = new Date(task.due_at).getTime();
      return due >= at && due - at <= DUE_SOON_MS;
    })
    .sort((a, b) => String(a.due_at).localeCompare(String(b.due_at)));
}

/** A task with the changes still queued for it applied (oldest first). */
export function withPending(task, changes) {
  let shown = { ...task, steps: task.steps.map((s) => ({ ...s })), waiting: false };
  for (const change of changes) {
    if (change.task !== task.id) continue;
    shown.waiting = true;
    if (change.status) shown.status = change.status;
    if (change.blocked_reason) shown.blocked_reason = change.blocked_reason;
    for (const tick of change.steps || []) {
      const step = shown.steps.find((s) => s.id === tick.id);
      if (step) step.done = tick.done;
    }
  }
  shown.progress = { done: shown.steps.filter((s) => s.done).length, total: shown.steps.length };
  return shown;
}

/**
 * What the phone shows, a pure function of the list, the queued changes and
 * who holds the phone: {mine, team}, each open tasks first by due time.
 */
export function taskView(list, changes, me) {
  const shown = list.map((task) => withPending(task, changes));
  const order = (a, b) => (a.status === "done") - (b.status === "done") || String(a.due_at || "~").localeCompare(String(b.due_at || "~")) || a.id - b.id;
  const mine = shown.filter((task) => me.staff !== null && task.staff === me.staff).sort(order);
  const team = shown.filter((task) => !mine.includes(task)).sort(order);
  return { mine, team };
}

export class Tasks {
  constructor(app) {
    this.app = app;
    this.list = [];
    this.me = { staff: null, team: null };
    this.changes = [];
    this.reminded = new Set();
    /** Tasks the server said are due soon (kept until done or past due). */
    this.pushed = new Set();
    this.blocking = null; // the task whose "why blocked" form is open
    this.outbox = new Outbox({ store, name: "taskchanges", timeOf: (c) => c.occurred_at, send: ([c]) => this.#send(c) });
    this.outbox.addEventListener("change", () => this.app.queueChanged());
    window.addEventListener("languagechange-muster", () => this.render());
  }

  mount() {
    this.section = document.getElementById("view-tasks");
    this.message = el("p", { id: "task-message", className: "message", role: "status" });
    this.mineList = el("ul", { id: "task-mine", className: "list task-list" });
    this.teamList = el("ul", { id: "task-team", className: "list task-list" });
    this.mineTitle = el("h2", { id: "task-mine-title" });
    this.teamTitle = el("h2", { id: "task-team-title" });
    this.reminder = el("div", { id: "task-reminder", className: "task-reminder hidden", role: "status" });
    this.section.replaceChildren(this.reminder, this.message, this.mineTitle, this.mineList, this.teamTitle, this.teamList);
  }

  async restore() {
    this.list = (await store.get("kv", LIST_KEY)) || [];
    this.me = (await store.get("kv", ME_KEY)) || this.me;
    this.changes = await this.outbox.pending();
    this.reminded = new Set((await store.get("kv", REMINDED_KEY)) || []);
    this.render();
    setInterval(() => this.render(), CHECK_EVERY_MS);
  }

  /** A message of the `tasks` topic (only this phone's tasks arrive). */
  changed(message) {
    if (message.type === "snapshot") return this.refresh();
    const task = message.data && message.data.task;
    if (!task) return;
    if (message.data.action === "due_soon") this.pushed.add(task.id);
    const at = this.list.findIndex((known) => known.id === task.id);
    if (at >= 0) this.list[at] = task;
    else this.list.push(task);
    store.put("kv", this.list, LIST_KEY);
    this.render();
  }

  async refresh() {
    try {
      const answer = await this.app.api.get(`/api/v1/events/${this.app.eventId}/tasks`, { timeoutMs: 8000 });
      this.list = answer.tasks;
      this.me = answer.me;
      await store.put("kv", this.list, LIST_KEY);
      await store.put("kv", this.me, ME_KEY);
    } catch (error) {
      if (!isRetryable(error)) console.warn("tasks", error);
    }
    this.render();
  }

  render() {
    if (!this.section) return;
    const view = taskView(this.list, this.changes, this.me);
    this.mineTitle.textContent = t("task.mine");
    this.teamTitle.textContent = t("task.team");
    this.mineList.replaceChildren(...this.#items(view.mine));
    this.teamList.replaceChildren(...this.#items(view.team));
    this.#remind([...view.mine, ...view.team]);
    const unpaired = this.me.staff === null && !this.list.length;
    if (unpaired) {
      this.message.textContent = t("task.not_paired");
      this.message.className = "message";
    } else if (!this.message.classList.contains("bad")) {
      this.message.textContent = "";
    }
  }

  /** The banner and the tab's mark for what is due soon; a buzz for each new one. */
  #remind(tasks) {
    const now = new Date();
    const soon = dueSoon(tasks, now);
    for (const task of tasks) {
      const pushed = this.pushed.has(task.id) && task.status !== "done" && new Date(task.due_at) > now;
      if (pushed && !soon.includes(task)) soon.push(task);
    }
    const tz = this.app.device.event.timezone;
    this.reminder.classList.toggle("hidden", !soon.length);
    this.reminder.replaceChildren(...soon.map((task) => el("p", { dataset: { task: String(task.id) }, textContent: t("task.due_soon", { title: task.title, time: formatTime(task.due_at, tz) }) })));
    const tab = document.querySelector("#tabs button[data-view='tasks']");
    if (tab) tab.dataset.dueSoon = String(soon.length);
    const fresh = soon.filter((task) => !this.reminded.has(task.id));
    if (!fresh.length) return;
    signal(true);
    for (const task of fresh) this.reminded.add(task.id);
    store.put("kv", [...this.reminded], REMINDED_KEY);
  }

  #items(tasks) {
    if (!tasks.length) return [el("li", { className: "muted task-none", textContent: t("task.none") })];
    return tasks.map((task) => this.#item(task));
  }

  #item(task) {
    const tz = this.app.device.event.timezone;
    const overdue = task.status !== "done" && task.due_at && new Date(task.due_at) < new Date();
    const facts = [
      t(`task.status.${task.status}`),
      task.due_at ? t("task.due", { time: formatTime(task.due_at, tz) }) : "",
      task.progress.total ? t("task.steps", task.progress) : "",
      overdue ? t("task.overdue") : "",
      task.waiting ? t("task.waiting") : "",
    ].filter(Boolean);
    const steps = task.steps.map((step) =>
      el(
        "li",
        { className: `task-step${step.done ? " done" : ""}` },
        el(
          "label",
          {},
          el("input", { type: "checkbox", checked: step.done, dataset: { step: String(step.id) }, onchange: (e) => this.tick(task, step, e.target.checked) }),
          el("span", { textContent: step.title }),
        ),
      ),
    );
    const next = task.status === "todo" || task.status === "blocked" ? "doing" : task.status === "doing" ? "done" : null;
    return el(
      "li",
      { className: `task task-${task.status}${overdue ? " overdue" : ""}`, dataset: { task: String(task.id), status: task.status } },
      el("div", { className: "task-head" }, el("strong", { className: "task-title", textContent: task.title }), task.priority === "high" ? el("span", { className: "badge critical", textContent: t("task.priority.high") }) : null),
      el("p", { className: "task-facts muted", textContent: facts.join(" · ") }),
      task.description ? el("p", { className: "task-description", textContent: task.description }) : null,
      steps.length ? el("ul", { className: "task-steps" }, ...steps) : null,
      next ? el("button", { type: "button", className: "task-next", dataset: { next }, textContent: t(next === "doing" ? "task.start" : "task.finish"), onclick: () => this.setStatus(task, next) }) : null,
      task.status === "blocked" && task.blocked_reason ? el("p", { className: "task-blocked-reason", textContent: t("task.blocked_because", { reason: task.blocked_reason }) }) : null,
      task.status === "todo" || task.status === "doing" ? this.#blockForm(task) : null,
    );
  }

  /** "Blocked": a reason is asked (the server refuses one without: task_blocked_needs_reason). */
  #blockForm(task) {
    if (this.blocking !== task.id) {
      return el("button", { type: "button", className: "task-block small", textContent: t("task.block"), onclick: () => { this.blocking = task.id; this.render(); } });
    }
    const reason = el("input", { className: "task-reason", maxLength: 500, placeholder: t("task.block.reason"), required: true });
    return el(
      "form",
      { className: "task-block-form row", onsubmit: (event) => { event.preventDefault(); const why = reason.value.trim(); if (!why) return; this.blocking = null; this.#queue({ task: task.id, status: "blocked", blocked_reason: why }); } },
      reason,
      el("button", { type: "submit", textContent: t("task.block.send") }),
    );
  }

  tick(task, step, done) {
    return this.#queue({ task: task.id, steps: [{ id: step.id, done }] });
  }

  setStatus(task, status) {
    return this.#queue({ task: task.id, status });
  }

  /** Stored first, sent when the server is there (the outbox retries). */
  async #queue(change) {
    const record = { ...change, nonce: newNonce(), occurred_at: new Date().toISOString() };
    await this.outbox.add(record);
    this.changes = await this.outbox.pending();
    this.render();
    this.app.flush();
  }

  flush() {
    return this.outbox.flush();
  }

  pendingCount() {
    return this.outbox.count();
  }

  async #send(change) {
    const body = { nonce: change.nonce, occurred_at: change.occurred_at };
    if (change.status) body.status = change.status;
    if (change.blocked_reason) body.blocked_reason = change.blocked_reason;
    if (change.steps) body.steps = change.steps;
    try {
      const answer = await this.app.api.patch(`/api/v1/tasks/${change.task}`, body, { timeoutMs: 8000 });
      const at = this.list.findIndex((known) => known.id === change.task);
      if (answer && answer.task && at >= 0) this.list[at] = answer.task;
    } catch (error) {
      if (isRetryable(error)) throw error;
      if (error.status === 401) this.app.revoked();
      this.message.textContent = errorText(error);
      this.message.className = "message bad";
    }
    this.changes = this.changes.filter((c) => c.nonce !== change.nonce);
    await store.put("kv", this.list, LIST_KEY);
    this.render();
    return [change.nonce];
  }
}
