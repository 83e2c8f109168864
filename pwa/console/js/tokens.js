// Every token of every kind (people's from `muster token create` and paired
// phones), for every event: role, event, gate, last seen, and revoke. A
// revoked token is refused at once on every server process and its live
// socket closed (server/features/tokens.py). The list is for an organiser token of
// every event; one bound to an event is told so (403).

import { language, t } from "../../shared/i18n.js";
import { ask, clear, errorText, h, toast } from "./dom.js";
import { ageText } from "../../shared/time.js";

export async function showTokens(view) {
  const { api } = view;
  const body = h("tbody");
  const problem = h("div", { class: "form-error hidden", role: "alert" });

  async function load() {
    try {
      const { tokens } = await api.get("/api/v1/tokens");
      if (view.stale()) return;
      problem.classList.add("hidden");
      clear(body, tokens.map(tokenRow));
    } catch (err) {
      clear(problem, errorText(err));
      problem.classList.remove("hidden");
    }
  }

  function tokenRow(token) {
    const revoked = Boolean(token.revoked_at);
    let action = h("button", { type: "button", class: "small danger-outline", onclick: () => revoke(token) }, t("tokens.revoke"));
    if (revoked) action = h("span", { class: "pill revoked" }, t("tokens.revoked"));
    else if (token.yours) action = h("span", { class: "pill" }, t("tokens.yours"));
    return h("tr", { dataset: { token: String(token.id) }, class: revoked ? "revoked" : "" },
      h("td", {}, String(token.id)),
      h("td", {}, token.name || "—"),
      h("td", {}, t(`tokens.kind.${token.kind}`)),
      h("td", {}, t(`role.${token.role}`)),
      h("td", {}, token.event == null ? t("tokens.every_event") : String(token.event)),
      h("td", { title: token.last_seen_at || "" }, ageText(token.last_seen_at, language())),
      h("td", { class: "actions" }, action));
  }

  async function revoke(token) {
    const name = token.name || String(token.id);
    const answer = await ask({ title: t("tokens.revoke_title", { name }), message: t("tokens.revoke_help"), confirmLabel: t("tokens.revoke"), danger: true });
    if (answer === null) return;
    try {
      await api.post(`/api/v1/tokens/${token.id}/revoke`, {});
      toast(t("tokens.revoked_toast", { name }));
      await load();
    } catch (err) {
      toast(errorText(err), "bad");
    }
  }

  clear(view.main,
    h("div", { class: "page-head" }, h("h1", {}, t("nav.tokens")), h("p", { class: "muted" }, t("tokens.help"))),
    h("section", { class: "card", id: "tokens" },
      h("div", { class: "card-head" }, h("h2", {}, t("tokens.title")), h("button", { type: "button", onclick: load }, t("action.refresh"))),
      problem,
      h("table", { class: "table" },
        h("thead", {}, h("tr", {}, ["tokens.id", "tokens.name", "tokens.kind", "pair.role", "tokens.event", "device.last_seen"].map((k) => h("th", {}, t(k))), h("th"))),
        body)));
  await load();
}
