// The organiser's console: sign in, pick an event, then one section at a
// time (overview, venue, tickets, phones, the staff roster, tasks and run sheets, stock, incidents and plans, the
// review, personal data). The
// address keeps the place ("#event=3&tab=venue") so reload and back work.

import { Api } from "../../shared/api.js";
import { addStrings, applyTranslations, language, setLanguage, t } from "../../shared/i18n.js";
import { clear, errorText, h, onSubmit } from "./dom.js";
import { openCommandScreen, showEventList, showOverview } from "./events.js";
import { showMail } from "./mail.js";
import { MAIL_STRINGS } from "./mail_strings.js";
import { MUSTER_STRINGS } from "./muster_strings.js";
import { showPhones } from "./phones.js";
import { showPlans } from "./plans.js";
import { showReview } from "./review.js";
import { markEventList, showRetention, showRetentionReminder } from "./retention.js";
import { RETENTION_STRINGS } from "./retention_strings.js";
import { currentRoute, forgetToken, routeHash, saveToken, storedToken, takeTokenFromLink } from "./session.js";
import { showStaff } from "./staff.js";
import { STAFF_STRINGS } from "./staff_strings.js";
import { showStock } from "./stock.js";
import { showTasks } from "./tasks.js";
import { TASKS_STRINGS } from "./tasks_strings.js";
import { STRINGS } from "./strings.js";
import { TERMS } from "../../shared/terms.js";
import { showTickets } from "./tickets.js";
import { showTokens } from "./tokens.js";
import { TOKENS_STRINGS } from "./tokens_strings.js";
import { showVenue } from "./venue.js";

const TABS = [
  { id: "overview", show: showOverview },
  { id: "venue", show: showVenue },
  { id: "tickets", show: showTickets },
  { id: "mail", show: showMail },
  { id: "phones", show: showPhones },
  { id: "staff", show: showStaff },
  { id: "tasks", show: showTasks },
  { id: "stock", show: showStock },
  { id: "plans", show: showPlans },
  { id: "review", show: showReview },
  { id: "retention", show: showRetention },
  { id: "tokens", show: showTokens },
];

const main = document.getElementById("main");
const sidebar = document.getElementById("sidebar");
const eventTitle = document.getElementById("event-title");
const signOutButton = document.getElementById("sign-out");

let renderCount = 0;
/** The event and tab whose section the main column holds ("" for none). */
let shown = "";

function api() {
  return new Api(storedToken());
}

function go(route) {
  const hash = routeHash(route);
  if (location.hash === hash || (hash === "#" && !location.hash)) render();
  else location.hash = hash;
}

/** Render the page for the address; a newer render makes an older one stop writing. */
async function render() {
  const mine = ++renderCount;
  const stale = () => mine !== renderCount;
  if (!storedToken()) return showSignIn();
  signOutButton.classList.remove("hidden");
  const route = currentRoute();
  const client = api();
  try {
    if (route.event == null) {
      shown = "";
      sidebar.classList.add("hidden");
      clear(eventTitle);
      document.title = `Muster · ${t("app.title")}`;
      await showEventList({ api: client, main, go, stale });
      if (!stale()) await markEventList({ api: client, main, stale });
      return;
    }
    const event = await client.get(`/api/v1/events/${route.event}`);
    if (stale()) return;
    const tab = TABS.find((x) => x.id === route.tab) || TABS[0];
    renderChrome(event, tab.id);
    const key = `${event.id}/${tab.id}`;
    if (key !== shown) {
      // A new section: not the last one's content under the new tab's name
      // while its figures load (the review of a big event takes a while).
      shown = "";
      delete main.dataset.shown;
      clear(main, h("p", { class: "muted", "aria-busy": "true" }, t("app.loading")));
    }
    const view = { api: client, main, go, stale, event, reload: render };
    await tab.show(view);
    if (stale()) return;
    shown = key;
    main.dataset.shown = tab.id;
    if (tab.id !== "retention" && !stale()) await showRetentionReminder(view);
  } catch (err) {
    if (stale()) return;
    shown = "";
    if (err.status === 401) return showSignIn(t("signin.invalid"));
    clear(main, h("div", { class: "card error-card", role: "alert" },
      h("h2", {}, t("error.load")), h("p", {}, errorText(err)),
      h("p", {}, h("a", { href: "#" }, t("nav.events")))));
  }
}

function renderChrome(event, active) {
  document.title = `${event.name} · Muster`;
  clear(eventTitle, h("a", { href: "#", class: "crumb" }, t("nav.events")), " / ", h("span", {}, event.name));
  sidebar.classList.remove("hidden");
  clear(sidebar, TABS.map((tab) => h("a", {
    href: routeHash({ event: event.id, tab: tab.id }),
    class: tab.id === active ? "active" : "",
    "aria-current": tab.id === active ? "page" : false,
    dataset: { tab: tab.id },
  }, t(`nav.${tab.id}`))),
  h("hr"),
  h("a", { href: `/command/#event=${event.id}`, target: "_blank", rel: "noopener", class: "external", id: "nav-command",
    onclick: (e) => { e.preventDefault(); openCommandScreen(api(), event); } }, t("nav.command")));
}

function showSignIn(message) {
  sidebar.classList.add("hidden");
  signOutButton.classList.add("hidden");
  clear(eventTitle);
  const form = h("form", { class: "card signin", id: "signin-form" },
    h("h1", {}, t("signin.title")),
    h("p", { class: "muted" }, t("signin.help")),
    h("label", { class: "field" }, h("span", {}, t("signin.token")),
      h("input", { name: "token", type: "password", autocomplete: "off", required: true, placeholder: "mst_…" })),
    h("button", { type: "submit", class: "primary" }, t("signin.submit")));
  onSubmit(form, async (data) => {
    const token = String(data.get("token") || "").trim();
    await new Api(token).get("/api/v1/events");
    saveToken(token);
    render();
  });
  clear(main, form);
  if (message) {
    form.append(h("div", { class: "form-error", role: "alert" }, h("strong", {}, message)));
  }
}

function setupLanguageSwitch() {
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.addEventListener("click", () => setLanguage(button.dataset.lang));
  }
  const mark = () => {
    for (const button of document.querySelectorAll("[data-lang]")) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === language()));
    }
  };
  mark();
  window.addEventListener("languagechange-muster", () => {
    mark();
    render();
  });
}

function boot() {
  addStrings(TERMS);
  addStrings(STRINGS);
  addStrings(MAIL_STRINGS);
  addStrings(MUSTER_STRINGS);
  addStrings(RETENTION_STRINGS);
  addStrings(STAFF_STRINGS);
  addStrings(TASKS_STRINGS);
  addStrings(TOKENS_STRINGS);
  takeTokenFromLink();
  applyTranslations();
  setupLanguageSwitch();
  signOutButton.addEventListener("click", () => {
    forgetToken();
    location.hash = "";
    showSignIn();
  });
  window.addEventListener("hashchange", () => {
    // A pasted sign-in link on an open console: take the token, then render.
    takeTokenFromLink();
    render();
  });
  render();
}

export { go };

boot();
