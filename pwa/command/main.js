// The command-centre page: sign in (a command or organiser token, from
// #token=… or pasted once), pick the event (#event=E or from the list), then
// keep the whole venue on one screen from the websocket (live.js). Actions
// (acknowledge, assign, resolve, acknowledge an alert) go over REST; their
// results come back on the socket like everyone else's.

import { Api, ApiError } from "../shared/api.js";
import { errorText, teamName, TEAMS } from "../shared/codes.js";
import { incidentDetail, replaceKeepingDrafts } from "../shared/incident.js";
import { addStrings, applyTranslations, language, setLanguage, t } from "../shared/i18n.js";
import { TERMS } from "../shared/terms.js";
import { renderAlerts } from "./alerts.js";
import { renderArrivals } from "./arrivals.js";
import { CommandBroadcasts } from "./broadcasts.js";
import { CommandTasks } from "./tasks.js";
import { formatClock, h, tickDurations, useTimeZone } from "./dom.js";
import { DUTY_POLL_MS, dutyView, renderDuty } from "./duty.js";
import { CommandEvacuation } from "./evacuation.js";
import { renderIncidents } from "./incidents.js";
import { LiveSocket, socketUrl } from "../shared/live.js";
import {
  alertFeed,
  alertView,
  applyStream,
  gatesView,
  headcountView,
  incidentBoard,
  incidentView,
  stockView,
} from "./model.js";
import { showPlans } from "./plans.js";
import { renderStock } from "./stock.js";
import { STRINGS } from "./strings.js";
import { renderGates, renderInside, renderZones } from "./venue.js";

addStrings(TERMS);
addStrings(STRINGS);

const TOKEN_KEY = "muster.command.token";
const EVENT_KEY = "muster.command.event";
const TOPICS = ["headcount", "gates", "stock", "incidents", "alerts", "evacuation", "broadcasts", "tasks"];

const $ = (id) => document.getElementById(id);

const page = {
  api: null,
  event: null,
  socket: null,
  connection: { name: "connecting" },
  headcount: headcountView({}),
  gatesData: null,
  stock: [],
  incidents: new Map(),
  alerts: new Map(),
  /** undefined: not loaded yet; null: could not be loaded. */
  plans: undefined,
  /** Who is on duty where (duty.js dutyView); null: the roster could not be read. */
  duty: dutyView([], []),
  dutyTimer: null,
  /** The roster as last read (the assign dialog offers its names). */
  roster: [],
  /** Whether the token may acknowledge, assign and resolve (told by the welcome). */
  mayAct: false,
  dirty: new Set(),
  frame: null,
};

// --- rendering ----------------------------------------------------------------

const PANELS = {
  inside: () => renderInside($("panel-inside"), page.headcount),
  zones: () => renderZones($("panel-zones"), page.headcount),
  arrivals: () => renderArrivals($("panel-arrivals"), page.headcount.arrivals),
  gates: () => renderGates($("panel-gates"), gatesView(page.headcount, page.gatesData)),
  stock: () => renderStock($("panel-stock"), page.stock),
  duty: () => renderDuty($("panel-duty"), page.duty),
  incidents: () => renderIncidents($("panel-incidents"), incidentBoard(incidentList()), incidentActions),
  alerts: () =>
    renderAlerts($("panel-alerts"), alertFeed([...page.alerts.values()].map(alertView)), acknowledgeAlert, page.mayAct, page.event && page.event.timezone),
};

/** Re-render ``panels`` at the next frame: a burst of messages costs one render. */
function invalidate(...panels) {
  for (const panel of panels) page.dirty.add(panel);
  if (page.frame === null) page.frame = requestAnimationFrame(renderDirty);
}

function renderDirty() {
  page.frame = null;
  const dirty = [...page.dirty];
  page.dirty.clear();
  for (const panel of dirty) PANELS[panel]();
}

function renderAll() {
  invalidate(...Object.keys(PANELS));
}

function incidentList() {
  const names = {
    zones: new Map(page.headcount.zones.map((z) => [String(z.id), z.name])),
    gates: new Map(page.headcount.gates.map((g) => [String(g.id), g.name])),
  };
  return [...page.incidents.values()].map((raw) => incidentView(raw, names));
}

const CONNECTION_TEXT = {
  connecting: () => t("conn.connecting"),
  live: () => t("conn.live"),
  reconnecting_now: () => t("conn.reconnecting_now"),
  reconnecting: (state) => t("conn.reconnecting", { seconds: Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000)) }),
  offline: () => t("conn.offline"),
  refused_token: () => t("conn.refused_token"),
  refused_rights: () => t("conn.refused_rights"),
  no_event: () => t("conn.no_event"),
};

function renderConnection() {
  const state = page.connection;
  const el = $("connection");
  el.className = `connection state-${state.name}${page.event ? "" : " hidden"}`;
  el.dataset.state = state.name;
  el.querySelector(".connection-text").textContent = CONNECTION_TEXT[state.name](state);
  const stale = state.name !== "live" && state.since ? t("conn.stale", { time: formatClock(state.since, true) }) : "";
  el.querySelector(".connection-stale").textContent = stale;
  const away = state.name !== "live" && state.name !== "connecting";
  $("dashboard").classList.toggle("stale", away);
  $("evac-view").classList.toggle("stale", away);
}

function renderHeader() {
  $("event-name").textContent = page.event ? page.event.name : "";
  $("event-name").title = page.event ? page.event.name : "";
  $("language-button").textContent = t("header.language");
  for (const id of ["plans-button", "broadcasts-button", "tasks-button", "switch-event", "sign-out"]) $(id).classList.toggle("hidden", !page.event);
  renderBroadcastsButton();
  renderTasksButton();
  renderConnection();
}

function tick() {
  $("clock").textContent = formatClock(new Date(), true);
  if (!page.event) return;
  tickDurations($("dashboard"));
  if (page.connection.name === "reconnecting") renderConnection();
  // The chart's time axis and the "resolved recently" column move with the clock.
  if (new Date().getSeconds() === 0) invalidate("arrivals", "incidents");
}

function toast(message, kind = "error") {
  const el = h("div", { class: `toast ${kind}`, role: "alert" }, message);
  $("toasts").append(el);
  setTimeout(() => el.remove(), 6000);
}

// --- the socket -----------------------------------------------------------------

/**
 * The incidents snapshot holds the unresolved ones; the board also shows
 * those resolved recently, read over REST. An incident the socket already
 * brought is newer than this answer and is kept.
 */
async function fetchResolved() {
  try {
    const { incidents } = await page.api.get(`/api/v1/events/${page.event.id}/incidents?status=resolved&limit=20`);
    for (const incident of incidents) {
      if (!page.incidents.has(String(incident.id))) page.incidents.set(String(incident.id), incident);
    }
    invalidate("incidents");
  } catch (error) {
    reportFailure(error);
  }
}

function receive(message) {
  switch (message.topic) {
    case "headcount":
      page.headcount = headcountView(message.data);
      invalidate("inside", "zones", "arrivals", "gates", "incidents");
      break;
    case "gates":
      page.gatesData = message.data;
      invalidate("gates");
      break;
    case "stock":
      page.stock = stockView(message.data);
      invalidate("stock");
      break;
    case "incidents":
      applyStream(page.incidents, message, "incident");
      detailChanged(message);
      if (message.type === "snapshot") fetchResolved();
      invalidate("incidents");
      break;
    case "alerts":
      applyStream(page.alerts, message, "alert");
      invalidate("alerts");
      break;
    case "evacuation":
      evacuation.receive(message.data);
      break;
    case "broadcasts":
      broadcasts.receive(message);
      break;
    case "tasks":
      tasks.receive(message);
      break;
    default:
      break;
  }
}

function notice(message) {
  if (message.type === "welcome") {
    // Only these roles run incidents from here (server/features/incidents.py may_act).
    page.mayAct = message.role === "organiser" || message.role === "command";
    evacuation.allow(page.mayAct);
    invalidate("incidents", "alerts");
  } else if (message.type === "error") {
    toast(t("topic.failed", { topic: t(`topic.${message.topic || "unknown"}`) }));
  }
}

function connectionChanged(state) {
  page.connection = state;
  renderConnection();
  if (state.name === "refused_token") {
    localStorage.removeItem(TOKEN_KEY);
    toast(t("signin.bad_token"));
  }
}

// --- actions --------------------------------------------------------------------

function reportFailure(error) {
  if (error instanceof ApiError && (error.status === 403 || error.status === 401)) toast(t("action.forbidden"));
  else toast(t("action.failed", { message: errorText(error) }));
}

async function incidentAction(incident, action, body = {}) {
  try {
    const answer = await page.api.post(`/api/v1/events/${page.event.id}/incidents/${incident.id}/${action}`, body);
    // Shown at once; the socket brings the same change a moment later.
    applyStream(page.incidents, { type: "update", data: { incident: answer } }, "incident");
    invalidate("incidents");
    detailChanged({ data: { incident: answer } });
  } catch (error) {
    reportFailure(error);
  }
}

/** The people on the roster as the assign dialog's choices; on duty first, then by name.
 * A name typed that is not on the roster still works (someone without a phone). */
function fillRosterChoices(list, roster) {
  const people = [...(roster || [])].sort((a, b) => Number(b.on_duty) - Number(a.on_duty) || a.name.localeCompare(b.name));
  list.replaceChildren(
    ...people.map((member) => h("option", { value: member.name }, [teamName(member.team), member.on_duty ? t("duty.on") : ""].filter(Boolean).join(" · "))),
  );
}

/** The teams the assign dialog offers: none, the built-in ones, then the roster's own. */
function fillTeamChoices(select, roster, current) {
  const teams = [...new Set([...TEAMS, ...(roster || []).map((member) => member.team)])];
  select.replaceChildren(
    h("option", { value: "" }, t("assign.no_team")),
    ...teams.map((team) => h("option", { value: team }, teamName(team))),
  );
  select.value = current && teams.includes(current) ? current : "";
}

/** An assign dialog opened before the roster had come (the first seconds of
 * the page) offers the roster's own teams and people as soon as it does,
 * keeping what was picked. */
function refreshAssignChoices() {
  if (!$("assign-dialog").open) return;
  const team = $("assignee-team");
  fillRosterChoices($("assignee-roster"), page.roster);
  fillTeamChoices(team, page.roster, team.value);
}

function askInDialog(dialog, incident, onConfirm) {
  dialog.querySelector(".dialog-subject").textContent = `${incident.severity} · ${incident.title}`;
  const form = dialog.querySelector("form");
  form.reset();
  dialog.onclose = () => {
    if (dialog.returnValue === "ok") onConfirm(new FormData(form));
  };
  dialog.returnValue = "";
  dialog.showModal();
}

const incidentActions = {
  allowed: () => page.mayAct,
  event: () => page.event,
  ack: (incident) => incidentAction(incident, "ack"),
  // A person, a team, or both (server/features/incidents.py AssignIn); the dialog
  // opens on who has it now, and what is left empty is cleared.
  assign: (incident) => {
    fillRosterChoices($("assignee-roster"), page.roster);
    askInDialog($("assign-dialog"), incident, (form) => {
      const name = String(form.get("assignee") || "").trim();
      const team = String(form.get("team") || "");
      if (name || team) incidentAction(incident, "assign", { assignee: name || null, team: team || null });
    });
    fillTeamChoices($("assignee-team"), page.roster, incident.team);
    $("assignee-input").value = incident.assignee && incident.assignee.name ? incident.assignee.name : "";
  },
  resolve: (incident) =>
    askInDialog($("resolve-dialog"), incident, (form) => {
      const note = String(form.get("note") || "").trim();
      incidentAction(incident, "resolve", note ? { note } : {});
    }),
  detail: (incident) => openDetail(incident.id),
  hasPlan: (incident) => Boolean(incident.plan) || (Array.isArray(page.plans) && page.plans.some((p) => p.category === incident.category)),
  plan: (incident) => openPlans(incident.category, incident.plan),
};

// --- one incident in full ----------------------------------------------------------

/** The incident open in the detail dialog (its id), or null. */
let detailId = null;
const photoUrls = [];

function names() {
  return {
    zones: new Map(page.headcount.zones.map((z) => [String(z.id), z.name])),
    gates: new Map(page.headcount.gates.map((g) => [String(g.id), g.name])),
  };
}

async function loadPhoto(url) {
  const blob = await page.api.get(url, { timeoutMs: 20000 });
  const objectUrl = URL.createObjectURL(blob);
  photoUrls.push(objectUrl);
  return objectUrl;
}

function detailActions(raw) {
  if (!page.mayAct) return [];
  const incident = incidentView(raw, names());
  const live = incident.status !== "resolved";
  return [
    incident.status === "open" ? h("button", { class: "primary", "data-action": "ack", onclick: () => incidentActions.ack(incident) }, t("incidents.ack")) : null,
    live ? h("button", { "data-action": "assign", onclick: () => incidentActions.assign(incident) }, t("incidents.assign")) : null,
    live ? h("button", { "data-action": "resolve", onclick: () => incidentActions.resolve(incident) }, t("incidents.resolve")) : null,
    !live ? h("button", { "data-action": "reopen", onclick: () => incidentAction(incident, "reopen") }, t("incidents.reopen")) : null,
  ].filter(Boolean);
}

/** Open (or refresh) the detail dialog of an incident: fetched with its history and comments. */
async function openDetail(id, { quiet = false } = {}) {
  const dialog = $("incident-dialog");
  const body = dialog.querySelector(".dialog-body");
  detailId = id;
  if (!quiet) body.replaceChildren(h("p", { class: "muted" }, t("detail.loading")));
  if (!dialog.open) dialog.showModal();
  let incident;
  try {
    incident = await page.api.get(`/api/v1/events/${page.event.id}/incidents/${id}`);
  } catch (error) {
    body.replaceChildren(h("p", { class: "error" }, t("detail.unavailable", { message: errorText(error) })));
    return;
  }
  if (detailId !== id || !dialog.open) return;
  while (photoUrls.length) URL.revokeObjectURL(photoUrls.pop());
  replaceKeepingDrafts(
    body,
    incidentDetail(incident, {
      timeZone: page.event.timezone,
      names: names(),
      event: page.event,
      loadPhoto,
      onComment: async (text) => {
        await page.api.post(`/api/v1/events/${page.event.id}/incidents/${id}/comments`, { text });
        await openDetail(id, { quiet: true });
      },
      actions: detailActions(incident),
    }),
  );
}

/** The socket brought a change: the open incident is fetched again. */
function detailChanged(message) {
  const item = message.data && message.data.incident;
  if (detailId !== null && $("incident-dialog").open && item && String(item.id) === String(detailId)) openDetail(detailId, { quiet: true });
}

async function acknowledgeAlert(alert) {
  try {
    const answer = await page.api.post(`/api/v1/events/${page.event.id}/alerts/${alert.id}/ack`, {});
    applyStream(page.alerts, { type: "update", data: { alert: answer } }, "alert");
    invalidate("alerts");
  } catch (error) {
    reportFailure(error);
  }
}

async function loadPlans() {
  try {
    const answer = await page.api.get(`/api/v1/events/${page.event.id}/plans`);
    page.plans = answer.plans;
  } catch {
    page.plans = null;
  }
  invalidate("incidents");
}

async function openPlans(category = null, attached = null) {
  if (page.plans === undefined || page.plans === null) await loadPlans();
  let plans = page.plans;
  if (attached && typeof attached === "object" && !(plans || []).some((p) => p.category === attached.category)) {
    plans = [attached, ...(plans || [])];
  }
  showPlans($("plans-dialog"), plans, category);
}

// While an evacuation runs the big screen shows it instead of the dashboard
// (pwa/command/evacuation.js), and the dashboard again at the all-clear.
const evacuation = new CommandEvacuation({
  onFailure: reportFailure,
  onSwitch: () => {
    renderAll();
    tickDurations($("dashboard"));
  },
});

// The task board (pwa/command/tasks.js), in a dialog; the header's button
// counts what is overdue.
const tasks = new CommandTasks({ onChange: () => renderTasksButton() });

function renderTasksButton() {
  const n = tasks.overdue();
  const button = $("tasks-button");
  button.textContent = n ? t("ctask.button.overdue", { n }) : t("ctask.button");
  button.classList.toggle("waiting", n > 0);
  button.dataset.overdue = String(n);
}

// Broadcasts and their receipts (pwa/command/broadcasts.js), in a dialog; the
// header's button counts the urgent ones someone has still to confirm.
const broadcasts = new CommandBroadcasts();

function renderBroadcastsButton() {
  const n = broadcasts.unconfirmed();
  const button = $("broadcasts-button");
  button.textContent = n ? t("cbc.button.waiting", { n }) : t("cbc.button");
  button.classList.toggle("waiting", n > 0);
  button.dataset.waiting = String(n);
}

// --- signing in ---------------------------------------------------------------------

function readHash() {
  return new URLSearchParams(location.hash.replace(/^#/, ""));
}

function showSignIn(error = "") {
  stopDashboard();
  $("dashboard").classList.add("hidden");
  $("signin").classList.remove("hidden");
  $("signin-form").classList.remove("hidden");
  $("event-choice").classList.add("hidden");
  $("signin-error").textContent = error;
  $("signin-error").classList.toggle("hidden", !error);
  $("token-input").value = "";
  $("token-input").focus();
}

function showEventChoice(api, events) {
  stopDashboard();
  $("dashboard").classList.add("hidden");
  $("signin").classList.remove("hidden");
  $("signin-form").classList.add("hidden");
  $("event-choice").classList.remove("hidden");
  $("event-list").replaceChildren(
    ...events.map((event) =>
      h(
        "li",
        {},
        h(
          "button",
          { type: "button", "data-event": event.id, onclick: () => openDashboard(api, event) },
          h("strong", {}, event.name),
          h("span", { class: "muted" }, ` ${new Date(event.starts_at).toLocaleDateString(language() === "zh" ? "zh-CN" : "en-GB")}`),
        ),
      ),
    ),
  );
}

async function signIn(token, wantedEvent) {
  const api = new Api(token);
  let events;
  try {
    ({ events } = await api.get("/api/v1/events"));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      localStorage.removeItem(TOKEN_KEY);
      showSignIn(t("signin.bad_token"));
    } else {
      showSignIn(errorText(error));
    }
    return;
  }
  localStorage.setItem(TOKEN_KEY, token);
  const wanted = events.find((e) => String(e.id) === String(wantedEvent));
  if (wanted) openDashboard(api, wanted);
  else if (events.length === 1) openDashboard(api, events[0]);
  else if (!events.length) showSignIn(t("signin.no_events"));
  else showEventChoice(api, events);
}

/**
 * Opened from the console: a single-use pairing code (in the address, never
 * a token) is redeemed for this screen's own command token.
 */
async function pairScreen(code, wantedEvent) {
  try {
    const paired = await new Api(null).post("/api/v1/devices/pair", { code });
    localStorage.setItem(TOKEN_KEY, paired.token);
    signIn(paired.token, wantedEvent || (paired.event && paired.event.id));
  } catch (error) {
    showSignIn(errorText(error));
  }
}

/** Who is on duty where: the roster read again every DUTY_POLL_MS (duty.js says why). */
async function loadDuty() {
  const event = page.event;
  if (!event) return;
  try {
    const [{ staff }, { zones }] = await Promise.all([
      page.api.get(`/api/v1/events/${event.id}/staff`),
      page.api.get(`/api/v1/events/${event.id}/zones`),
    ]);
    if (page.event !== event) return;
    page.duty = dutyView(staff, zones);
    page.roster = staff;
    refreshAssignChoices();
  } catch {
    if (page.event !== event) return;
    page.duty = null;
  }
  invalidate("duty");
}

function stopDashboard() {
  clearInterval(page.dutyTimer);
  if (page.socket) page.socket.stop();
  page.socket = null;
  page.event = null;
  evacuation.close();
  broadcasts.close();
  tasks.close();
  renderHeader();
}

function openDashboard(api, event) {
  stopDashboard();
  Object.assign(page, {
    api,
    event,
    headcount: headcountView({}),
    gatesData: null,
    stock: [],
    incidents: new Map(),
    alerts: new Map(),
    plans: undefined,
    duty: dutyView([], []),
    roster: [],
    mayAct: false,
    connection: { name: "connecting" },
  });
  localStorage.setItem(EVENT_KEY, String(event.id));
  useTimeZone(event.timezone);
  // The header clock in the event's zone at once, not at the next tick.
  $("clock").textContent = formatClock(new Date(), true);
  // Keep the event in the address (a bookmark for the big screen), never the token.
  history.replaceState(null, "", `#event=${event.id}`);
  document.title = `${event.name} · ${t("app.title")}`;
  $("signin").classList.add("hidden");
  $("dashboard").classList.remove("hidden");
  renderHeader();
  renderAll();
  evacuation.open(api, event);
  broadcasts.open(api, event);
  tasks.open(api, event);
  loadPlans();
  loadDuty();
  page.dutyTimer = setInterval(loadDuty, DUTY_POLL_MS);
  page.socket = new LiveSocket({
    url: socketUrl(event.id),
    token: api.token,
    topics: TOPICS,
    onMessage: receive,
    onNotice: notice,
    onState: connectionChanged,
  });
  // For tests and for whoever debugs the big screen from the console.
  window.musterCommand = { socket: page.socket, page, evacuation, broadcasts, tasks };
  page.socket.start();
}

function boot() {
  applyTranslations();
  renderHeader();
  tick();
  setInterval(tick, 1000);
  const hash = readHash();
  const token = hash.get("token") || localStorage.getItem(TOKEN_KEY);
  const wantedEvent = hash.get("event") || localStorage.getItem(EVENT_KEY);
  if (hash.has("token") || hash.has("pair")) history.replaceState(null, "", wantedEvent ? `#event=${wantedEvent}` : "#");
  if (hash.get("pair")) pairScreen(hash.get("pair"), wantedEvent);
  else if (token) signIn(token, wantedEvent);
  else showSignIn();

  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("token-input").value.trim();
    if (value) signIn(value, readHash().get("event") || localStorage.getItem(EVENT_KEY));
  });
  $("language-button").addEventListener("click", () => setLanguage(language() === "zh" ? "en" : "zh"));
  $("plans-button").addEventListener("click", () => openPlans());
  $("broadcasts-button").addEventListener("click", () => broadcasts.show());
  $("tasks-button").addEventListener("click", () => tasks.show());
  window.addEventListener("broadcasts-changed-muster", renderBroadcastsButton);
  $("switch-event").addEventListener("click", () => {
    const api = page.api;
    localStorage.removeItem(EVENT_KEY);
    api.get("/api/v1/events").then(({ events }) => showEventChoice(api, events), reportFailure);
  });
  $("sign-out").addEventListener("click", () => {
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(EVENT_KEY);
    history.replaceState(null, "", "#");
    showSignIn();
  });
  window.addEventListener("languagechange-muster", () => {
    renderHeader();
    renderConnection();
    renderAll();
    if (page.event) document.title = `${page.event.name} · ${t("app.title")}`;
    if (detailId !== null && $("incident-dialog").open) openDetail(detailId, { quiet: true });
  });
  window.addEventListener("resize", () => invalidate("arrivals"));
  $("incident-dialog").addEventListener("close", () => {
    detailId = null;
    while (photoUrls.length) URL.revokeObjectURL(photoUrls.pop());
  });
}

boot();
