// The post-event review's floor work: each broadcast that asked for a
// confirmation (confirmed / expected, median and slowest seconds from sending
// to a confirmation), the emergency plans confirmed by doors-open, and the
// tasks on time / late / not done by team. Figures only, as the report gives
// them (server/features/broadcasts.py broadcasts_review, server/features/tasks.py tasks_review).

import { language, t } from "../../shared/i18n.js";
import { formatInZone } from "../../shared/time.js";
import { h } from "./dom.js";
import { teamName } from "./staff.js";

function seconds(value) {
  return value == null ? "—" : t("review.seconds", { n: value });
}

function share(done, of) {
  return of ? `${done} / ${of} · ${Math.round((100 * done) / of)}%` : `${done} / ${of}`;
}

function empty(cols) {
  return h("tr", {}, h("td", { colspan: cols, class: "empty muted" }, t("review.none")));
}

/** Broadcasts to confirm, one row each, and the plans read by doors-open. */
export function broadcastsCard(review, tz) {
  const { broadcasts, ack_times: all, plans_at_doors_open: plans } = review;
  const rows = broadcasts.map((b) => h("tr", { dataset: { broadcast: String(b.id) } },
    h("td", { class: "muted" }, formatInZone(b.sent_at, tz, language())),
    h("td", {}, t(`review.priority.${b.priority}`)),
    h("td", { class: "num", dataset: { col: "acked" } }, share(b.acked, b.expected)),
    h("td", { class: "num", dataset: { col: "median" } }, seconds(b.median_seconds)),
    h("td", { class: "num", dataset: { col: "slowest" } }, seconds(b.slowest_seconds))));
  return h("section", { class: "card", id: "review-broadcasts" }, h("h2", {}, t("review.broadcasts")),
    h("p", { id: "review-plans", dataset: { confirmed: String(plans.confirmed), expected: String(plans.expected) } },
      t("review.plans_ready"), " ", h("strong", {}, share(plans.confirmed, plans.expected))),
    h("p", { class: "muted", id: "review-ack-times" },
      t("review.median_confirm"), " ", seconds(all.median_seconds), " · ", t("review.slowest_confirm"), " ", seconds(all.slowest_seconds)),
    h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["review.sent_at", "review.priority", "review.confirmed", "review.median_confirm", "review.slowest_confirm"].map((k) => h("th", {}, t(k))))),
      h("tbody", {}, rows.length ? rows : empty(5))));
}

/** Tasks by how they ended, in all and by team (a task with no team: its own row). */
export function tasksCard(tasks) {
  const cells = (row) => ["on_time", "late", "not_done"].map((k) => h("td", { class: "num", dataset: { col: k } }, String(row[k])));
  const rows = tasks.teams.map((row) => h("tr", { dataset: { team: row.team } },
    h("td", {}, row.team ? teamName(row.team) : t("review.no_team")), ...cells(row)));
  return h("section", { class: "card", id: "review-tasks" }, h("h2", {}, t("review.tasks")),
    h("div", { class: "figures three" },
      h("div", { class: "figure ok", dataset: { figure: "on_time" } }, h("strong", {}, String(tasks.on_time)), h("span", {}, t("review.on_time"))),
      h("div", { class: `figure ${tasks.late ? "warn" : ""}`, dataset: { figure: "late" } }, h("strong", {}, String(tasks.late)), h("span", {}, t("review.late"))),
      h("div", { class: `figure ${tasks.not_done ? "bad" : ""}`, dataset: { figure: "not_done" } }, h("strong", {}, String(tasks.not_done)), h("span", {}, t("review.not_done")))),
    h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["review.team", "review.on_time", "review.late", "review.not_done"].map((k) => h("th", {}, t(k))))),
      h("tbody", {}, rows.length ? rows : empty(4))));
}
