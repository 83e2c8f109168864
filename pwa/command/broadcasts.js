// Broadcasts from the command centre: write one (Chinese and/or English),
// choose who it is for (everyone, roles, teams, zones or people from the
// roster), its priority and an emergency plan, send it; then watch, live,
// who has and has not acknowledged it (by person and by team) and re-send to
// those who have not. The `broadcasts` topic brings every broadcast and
// every acknowledgement to a command screen; the receipts are read again
// over HTTP when one arrives (acknowledgements come at human pace).
// Also the plans' readiness: plans confirmed / expected, by team and by plan
// (a plan is confirmed by the teams it names, everyone when it names none).

import { errorText, teamName, TEAMS } from "../shared/codes.js";
import { addStrings, language, t } from "../shared/i18n.js";
import { BROADCAST_STRINGS } from "./broadcast_strings.js";
import { formatClock, h } from "./dom.js";

addStrings(BROADCAST_STRINGS);

const ROLES = ["door", "staff"];
const REFRESH_MS = 250;

function wordsOf(broadcast) {
  const text = broadcast.text || {};
  return language() === "zh" ? text.zh || text.en : text.en || text.zh;
}

/** The audience chosen in the form, as the API takes it (null: nothing chosen). */
export function audienceFrom(mode, picked) {
  if (mode === "everyone") return { everyone: true };
  const values = picked.map((v) => (mode === "zones" || mode === "people" ? Number(v) : v));
  return values.length ? { [mode]: values } : null;
}

/** A select's options as [value, label] pairs, keeping the chosen values that are still there. */
function fill(select, options, chosen) {
  select.replaceChildren(...options.map(([value, label]) => h("option", { value: String(value), selected: chosen.includes(String(value)) }, label)));
}

export class CommandBroadcasts {
  constructor() {
    this.api = null;
    this.event = null;
    this.list = [];
    this.selected = null; // the broadcast whose receipts are shown
    this.staff = [];
    this.zones = [];
    this.plans = [];
    this.readiness = null;
    this.timer = null;
    this.dialog = this.#build();
    document.body.append(this.dialog);
    window.addEventListener("languagechange-muster", () => this.render());
  }

  #build() {
    this.form = h("form", { id: "bc-form", class: "bc-form", onsubmit: (e) => this.#submit(e) });
    this.listEl = h("ul", { id: "bc-list", class: "bc-list" });
    this.detail = h("section", { id: "bc-detail", class: "bc-detail" });
    this.readinessEl = h("section", { id: "bc-readiness", class: "bc-readiness" });
    this.titleEl = h("h2", { class: "dialog-title" });
    // In the dialog itself: a toast would be under the modal's backdrop.
    this.message = h("p", { id: "bc-message", class: "bc-message", role: "status" });
    this.closeButton = h("button", { type: "button", onclick: () => this.dialog.close() });
    return h(
      "dialog",
      { id: "broadcasts-dialog", class: "dialog broadcasts-dialog" },
      h("div", { class: "dialog-header" }, this.titleEl, this.message, this.closeButton),
      h("div", { class: "bc-columns" }, h("div", { class: "bc-left" }, this.form, this.readinessEl), h("div", { class: "bc-right" }, this.listEl, this.detail)),
    );
  }

  async open(api, event) {
    this.api = api;
    this.event = event;
    this.list = [];
    this.selected = null;
    await Promise.all([this.#loadList(), this.#loadChoices()]);
  }

  close() {
    this.event = null;
    if (this.dialog.open) this.dialog.close();
  }

  show() {
    this.render();
    if (!this.dialog.open) this.dialog.showModal();
    this.#loadChoices();
  }

  /** The number of urgent broadcasts someone has still to acknowledge (the header's badge). */
  unconfirmed() {
    return this.list.filter((b) => b.priority === "urgent" && b.ack_required && b.receipts && b.receipts.acked < b.receipts.expected).length;
  }

  /** A `broadcasts` message: read the list (and the receipts shown) again, once per burst. */
  receive(message) {
    if (!this.event) return;
    if (message.type === "update" && message.data && message.data.kind === "ack") this.#countAck(message.data.ack);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.#refresh(), REFRESH_MS);
  }

  #countAck(ack) {
    const known = this.list.find((b) => b.id === ack.broadcast);
    if (known && known.receipts) known.receipts.acked = Math.min(known.receipts.expected, known.receipts.acked + 1);
    this.render();
  }

  async #refresh() {
    await this.#loadList();
    if (this.selected) await this.select(this.selected.id);
  }

  async #loadList() {
    if (!this.event) return;
    try {
      this.list = (await this.api.get(`/api/v1/events/${this.event.id}/broadcasts`)).broadcasts;
    } catch (error) {
      console.warn("broadcasts", error);
    }
    this.render();
    window.dispatchEvent(new CustomEvent("broadcasts-changed-muster"));
  }

  async #loadChoices() {
    if (!this.event) return;
    const base = `/api/v1/events/${this.event.id}`;
    try {
      const [staff, zones, plans] = await Promise.all([this.api.get(`${base}/staff`), this.api.get(`${base}/zones`), this.api.get(`${base}/plans`)]);
      this.staff = staff.staff;
      this.zones = zones.zones;
      this.plans = plans.plans;
      this.readiness = plans.readiness;
    } catch (error) {
      console.warn("broadcast choices", error);
    }
    this.renderForm();
    this.renderReadiness();
  }

  async select(id) {
    try {
      this.selected = await this.api.get(`/api/v1/broadcasts/${id}`);
    } catch (error) {
      this.#say(errorText(error));
      return;
    }
    this.renderDetail();
  }

  render() {
    this.titleEl.textContent = t("cbc.title");
    this.closeButton.textContent = t("dialog.close");
    this.renderForm();
    this.renderList();
    this.renderDetail();
    this.renderReadiness();
  }

  /**
   * The form is built once and kept: a list or roster arriving (each
   * acknowledgement brings one) only refills the choices, so what the
   * commander is typing keeps its text, its focus and its caret.
   */
  #buildForm() {
    const f = {
      heading: h("h3", {}),
      zhLabel: h("label", { for: "bc-text-zh" }),
      zh: h("textarea", { id: "bc-text-zh", rows: "2", maxlength: "2000" }),
      enLabel: h("label", { for: "bc-text-en" }),
      en: h("textarea", { id: "bc-text-en", rows: "2", maxlength: "2000" }),
      modeLabel: h("label", { for: "bc-mode" }),
      mode: h("select", { id: "bc-mode", onchange: () => this.renderForm() }),
      picked: h("select", { id: "bc-picked", multiple: true, size: "5" }),
      priorityLabel: h("label", { for: "bc-priority" }),
      priority: h("select", { id: "bc-priority" }),
      planLabel: h("label", { for: "bc-plan" }),
      plan: h("select", { id: "bc-plan" }),
      ack: h("input", { id: "bc-ack-required", type: "checkbox", checked: true }),
      ackWords: h("span", {}),
      send: h("button", { id: "bc-send", type: "submit", class: "danger" }),
    };
    this.fields = f;
    this.form.replaceChildren(
      f.heading, f.zhLabel, f.zh, f.enLabel, f.en, f.modeLabel, f.mode, f.picked,
      h("div", { class: "bc-row" }, f.priorityLabel, f.priority, f.planLabel, f.plan),
      h("label", { class: "bc-check" }, f.ack, f.ackWords),
      h("div", { class: "dialog-buttons" }, f.send),
    );
  }

  renderForm() {
    if (!this.fields) this.#buildForm();
    const f = this.fields;
    f.heading.textContent = t("cbc.new");
    f.zhLabel.textContent = t("cbc.text_zh");
    f.enLabel.textContent = t("cbc.text_en");
    f.modeLabel.textContent = t("cbc.audience");
    f.priorityLabel.textContent = t("cbc.priority");
    f.planLabel.textContent = t("cbc.plan");
    f.ackWords.textContent = t("cbc.ack_required");
    f.send.textContent = t("cbc.send");
    const mode = f.mode.value || "everyone";
    fill(f.mode, ["everyone", "roles", "teams", "zones", "people"].map((m) => [m, t(`cbc.audience.${m}`)]), [mode]);
    const picked = [...f.picked.selectedOptions].map((o) => o.value);
    fill(f.picked, this.#choices(mode), picked);
    f.picked.hidden = mode === "everyone";
    fill(f.priority, ["urgent", "info"].map((p) => [p, t(`cbc.priority.${p}`)]), [f.priority.value || "urgent"]);
    fill(f.plan, [["", t("cbc.no_plan")], ...this.plans.map((p) => [String(p.id), this.#planTitle(p)])], [f.plan.value]);
  }

  #planTitle(plan) {
    const zh = language() === "zh";
    return (zh ? plan.title.zh || plan.title.en : plan.title.en || plan.title.zh) || plan.category;
  }

  #choices(mode) {
    if (mode === "roles") return ROLES.map((r) => [r, t(`role.${r}`)]);
    if (mode === "teams") return [...new Set([...TEAMS, ...this.staff.map((m) => m.team)])].map((team) => [team, teamName(team)]);
    if (mode === "zones") return this.zones.map((z) => [String(z.id), z.name]);
    if (mode === "people") return this.staff.map((m) => [String(m.id), `${m.name} · ${teamName(m.team)}`]);
    return [];
  }

  async #submit(event) {
    event.preventDefault();
    const mode = this.fields.mode.value;
    const picked = mode === "everyone" ? [] : [...this.fields.picked.selectedOptions].map((o) => o.value);
    const audience = audienceFrom(mode, picked);
    if (!audience) {
      this.#say(t("error.broadcast_needs_audience"));
      return;
    }
    const plan = this.fields.plan.value;
    const body = {
      text_zh: this.fields.zh.value,
      text_en: this.fields.en.value,
      priority: this.fields.priority.value,
      ack_required: this.fields.ack.checked,
      audience,
      plan_id: plan ? Number(plan) : null,
    };
    try {
      const sent = await this.api.post(`/api/v1/events/${this.event.id}/broadcasts`, body);
      this.fields.zh.value = "";
      this.fields.en.value = "";
      this.#say(t("cbc.sent"), "ok");
      await this.#loadList();
      await this.select(sent.id);
    } catch (error) {
      this.#say(errorText(error));
    }
  }

  #say(text, tone = "bad") {
    this.message.textContent = text;
    this.message.dataset.tone = tone;
  }

  renderList() {
    if (!this.list.length) {
      this.listEl.replaceChildren(h("li", { class: "muted empty" }, t("cbc.none")));
      return;
    }
    this.listEl.replaceChildren(
      ...this.list.slice(0, 30).map((b) =>
        h(
          "li",
          { class: `bc-item bc-item-${b.priority}${this.selected && this.selected.id === b.id ? " on" : ""}`, "data-broadcast": String(b.id) },
          h("button", { type: "button", class: "bc-open", onclick: () => this.select(b.id) },
            h("span", { class: "bc-item-time" }, formatClock(new Date(b.sent_at))),
            h("span", { class: "badge" }, t(`cbc.priority.${b.priority}`)),
            h("span", { class: "bc-item-text" }, wordsOf(b)),
            b.ack_required && b.receipts ? h("strong", { class: "bc-item-count", "data-acked": String(b.receipts.acked), "data-expected": String(b.receipts.expected) }, t("cbc.count", { acked: b.receipts.acked, expected: b.receipts.expected })) : null),
        ),
      ),
    );
  }

  renderDetail() {
    const b = this.selected;
    if (!b) {
      this.detail.replaceChildren();
      return;
    }
    const r = b.receipts;
    const waiting = r.people.filter((p) => !p.acked_at);
    const done = r.people.filter((p) => p.acked_at);
    const person = (p) =>
      h("li", { "data-receipt-staff": String(p.id), "data-acked": p.acked_at ? "yes" : "no" },
        h("span", { class: "bc-person" }, p.name), h("span", { class: "muted" }, ` · ${teamName(p.team)}`),
        p.acked_at ? h("span", { class: "bc-acked-at" }, ` ${formatClock(new Date(p.acked_at))}`) : null);
    const devicesWaiting = r.devices.filter((d) => !d.acked_at).length;
    const parts = [
      h("h3", {}, wordsOf(b)),
      h("p", { id: "bc-detail-count", class: "bc-detail-count", "data-acked": String(r.acked), "data-expected": String(r.expected) }, t("cbc.count", { acked: r.acked, expected: r.expected })),
      h("ul", { class: "bc-teams" }, r.teams.map((team) => h("li", { "data-team": team.team }, `${teamName(team.team)} ${team.acked}/${team.expected}`))),
      h("div", { class: "bc-receipts" },
        h("div", {}, h("h4", {}, t("cbc.not_yet", { n: waiting.length + devicesWaiting })), h("ul", { id: "bc-waiting" }, waiting.map(person)),
          devicesWaiting ? h("p", { class: "muted" }, t("cbc.devices_waiting", { n: devicesWaiting })) : null),
        h("div", {}, h("h4", {}, t("cbc.acked", { n: done.length })), h("ul", { id: "bc-acked" }, done.map(person)))),
      b.ack_required && r.acked < r.expected ? h("div", { class: "dialog-buttons" }, h("button", { id: "bc-resend", type: "button", class: "primary", onclick: () => this.#resend(b.id) }, t("cbc.resend"))) : null,
    ];
    this.detail.replaceChildren(...parts.filter(Boolean));
  }

  async #resend(id) {
    try {
      const again = await this.api.post(`/api/v1/broadcasts/${id}/resend`, {});
      this.#say(t("cbc.resent", { n: again.resent_to }), "ok");
    } catch (error) {
      this.#say(errorText(error));
    }
  }

  renderReadiness() {
    const r = this.readiness;
    if (!r || !r.expected) {
      this.readinessEl.replaceChildren(h("h3", {}, t("cbc.readiness")), h("p", { class: "muted" }, t("cbc.readiness.none")));
      return;
    }
    this.readinessEl.replaceChildren(
      h("h3", {}, t("cbc.readiness")),
      h("p", { id: "bc-readiness-total" }, t("cbc.readiness.total", { confirmed: r.confirmed, expected: r.expected })),
      h("ul", { class: "bc-teams" }, r.teams.map((team) => h("li", { "data-team": team.team }, t("cbc.readiness.team", { team: teamName(team.team), confirmed: team.confirmed, expected: team.expected, ready: team.ready, people: team.people })))),
      h("ul", { class: "bc-plans" }, (r.plans || []).map((row) => this.#planReadiness(row))),
    );
  }

  #planReadiness(row) {
    const plan = this.plans.find((p) => p.id === row.id);
    const teams = row.teams.length ? row.teams.map(teamName).join(language() === "zh" ? "、" : ", ") : t("cbc.readiness.everyone");
    return h(
      "li",
      { "data-plan": String(row.id), "data-teams": row.teams.join(" ") },
      t("cbc.readiness.plan", { plan: plan ? this.#planTitle(plan) : String(row.id), teams, confirmed: row.confirmed, expected: row.expected }),
    );
  }
}
