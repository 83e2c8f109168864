// Emergency plans read before the day, on a phone paired to a roster member:
// the device tab lists the event's plans (Markdown, pwa/shared/markdown.js),
// each confirmed with one tap (POST /api/v1/plans/{id}/ack). A plan changed
// after it was confirmed asks again (the server decides: server/features/broadcasts.py).
// Read over HTTP when the tab opens; a phone paired to nobody shows nothing.

import { errorText } from "/shared/codes.js";
import { language, t } from "/shared/i18n.js";
import { renderMarkdown } from "/shared/markdown.js";
import { el } from "./element.js";

function inLanguage(pair) {
  return (language() === "zh" ? pair.zh || pair.en : pair.en || pair.zh) || "";
}

export class Plans {
  constructor(app) {
    this.app = app;
    this.plans = [];
    this.mine = false;
    this.heading = el("h2", { id: "plans-title" });
    this.list = el("ul", { id: "plans-list", className: "plans-list" });
    this.say = el("p", { id: "plans-message", className: "message" });
    this.root = el("section", { id: "plans", className: "plans hidden" }, this.heading, this.say, this.list);
    window.addEventListener("languagechange-muster", () => this.render());
  }

  mount() {
    document.getElementById("sync-now").before(this.root);
  }

  async refresh() {
    try {
      const me = await this.app.api.get("/api/v1/devices/me", { timeoutMs: 8000 });
      this.mine = Boolean(me.staff);
      // The plans of this person's team (server/features/broadcast_rules.py plan_expects: a plan naming no team is everyone's).
      if (this.mine) this.plans = (await this.app.api.get(`/api/v1/events/${this.app.eventId}/plans`, { timeoutMs: 8000 })).plans.filter((p) => p.expected !== false);
    } catch {
      // Offline: what was shown stays.
    }
    this.render();
  }

  render() {
    this.root.classList.toggle("hidden", !this.mine || !this.plans.length);
    this.heading.textContent = t("plans.mine", { done: this.plans.filter((p) => p.confirmed).length, n: this.plans.length });
    this.list.replaceChildren(
      ...this.plans.map((plan) =>
        el(
          "li",
          { dataset: { plan: String(plan.id), confirmed: plan.confirmed ? "yes" : "no" } },
          el("details", {}, el("summary", { textContent: inLanguage(plan.title) || plan.category }), renderMarkdown(inLanguage(plan.steps))),
          plan.confirmed
            ? el("span", { className: "plan-done", textContent: t("plans.confirmed") })
            : el("button", { type: "button", className: "plan-confirm", textContent: t("plans.confirm"), onclick: () => this.confirm(plan) }),
        ),
      ),
    );
  }

  async confirm(plan) {
    try {
      await this.app.api.post(`/api/v1/plans/${plan.id}/ack`, {}, { timeoutMs: 8000 });
      plan.confirmed = true;
      this.say.textContent = "";
    } catch (error) {
      this.say.textContent = errorText(error);
      this.say.className = "message bad";
    }
    this.render();
  }
}
