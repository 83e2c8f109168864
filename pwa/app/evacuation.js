// Evacuation on the staff phone: the moment the `evacuation` topic says one
// is running, every phone of the event shows it full-screen — drill or live,
// the message, its assembly point with the map note, the plan — and turns
// into the muster mode of the scanner: a badge or ticket scanned (camera or
// keyboard wedge) or a name found in the roll marks the person safe or
// needing help at this point.
//
// Accounts are stored first and sent after, through the shared outbox
// (pwa/shared/outbox.js) with a nonce each, so an assembly point with no
// network keeps accounting and the server merges the queue once, whenever
// it arrives (server/features/roll_call.py merges: first time and place kept).

import { cameraText } from "/shared/codes.js";
import { addStrings, formatTime, t } from "/shared/i18n.js";
import { Outbox, isRetryable, newNonce } from "/shared/outbox.js";
import { startCamera } from "./camera.js";
import { ticketCode } from "./display.js";
import { el } from "./element.js";
import { EVACUATION_STRINGS } from "./evacuation_strings.js";
import * as store from "./store.js";

addStrings(EVACUATION_STRINGS);

const POINT_KEY = "muster.evacuation.point";
const BATCH = 50;
const SHOWN_PEOPLE = 60;

/** A ticket holder's printed code ("" for staff, who have none). */
function codeOf(person) {
  return person.ticket_id ? ticketCode(person.ticket_id) : "";
}

export class Evacuation {
  constructor(app) {
    this.app = app;
    this.current = null; // the topic's evacuation summary, while one runs
    this.people = [];
    this.stopCamera = null;
    this.outbox = new Outbox({
      store,
      name: "accounts",
      timeOf: (record) => record.occurred_at,
      send: (batch) => this.#send(batch),
      batchSize: BATCH,
    });
    this.outbox.addEventListener("change", () => this.#renderQueue());
    this.root = this.#build();
    document.body.append(this.root);
    window.addEventListener("languagechange-muster", () => this.render());
  }

  #build() {
    this.title = el("h1", { id: "evac-title" });
    this.message = el("p", { id: "evac-text", className: "evac-text" });
    this.pointSelect = el("select", { id: "evac-point", onchange: () => this.#pickPoint() });
    this.pointNote = el("p", { id: "evac-point-note", className: "evac-note" });
    this.plan = el("pre", { id: "evac-plan", className: "evac-plan" });
    this.figures = el("p", { id: "evac-figures", className: "evac-figures" });
    this.wedge = el("input", {
      id: "evac-wedge",
      autocomplete: "off",
      onkeydown: (event) => {
        if (event.key !== "Enter") return;
        event.preventDefault();
        const code = this.wedge.value.trim();
        this.wedge.value = "";
        if (code) this.account({ secret: code }, "safe");
      },
    });
    this.cameraButton = el("button", { type: "button", id: "evac-camera", onclick: () => this.#camera() });
    this.video = el("video", { id: "evac-video", className: "hidden", playsInline: true, muted: true });
    this.search = el("input", { id: "evac-search", type: "search", oninput: () => this.#renderPeople() });
    this.list = el("ul", { id: "evac-people", className: "evac-people" });
    this.say = el("p", { id: "evac-message", className: "message" });
    this.queueLine = el("p", { id: "evac-queue", className: "evac-note" });
    this.labels = {
      point: el("label", { htmlFor: "evac-point" }),
      wedge: el("label", { htmlFor: "evac-wedge" }),
      search: el("label", { htmlFor: "evac-search" }),
      plan: el("h2"),
    };
    return el(
      "section",
      { id: "evacuation", className: "evac hidden", role: "alertdialog" },
      this.title,
      this.message,
      this.labels.point,
      this.pointSelect,
      this.pointNote,
      this.figures,
      this.labels.wedge,
      this.wedge,
      this.cameraButton,
      this.video,
      this.say,
      this.queueLine,
      this.labels.search,
      this.search,
      this.list,
      this.labels.plan,
      this.plan,
    );
  }

  /** The `evacuation` topic: a snapshot or update (the whole state each time). */
  snapshot(data) {
    if (!data) return;
    const was = this.current && this.current.id;
    this.current = data.active ? data.evacuation : null;
    if (this.current && this.current.id !== was) this.refreshPeople();
    if (!this.current) this.#stopCamera();
    this.render();
  }

  get path() {
    return `/api/v1/evacuations/${this.current.id}`;
  }

  async refreshPeople() {
    if (!this.current) return;
    const key = `evacuation-people-${this.current.id}`;
    try {
      const answer = await this.app.api.get(`${this.path}/people`, { timeoutMs: 8000 });
      this.people = answer.people;
      await store.put("kv", this.people, key);
    } catch (error) {
      if (!isRetryable(error)) console.warn("evacuation people", error);
      this.people = (await store.get("kv", key)) || this.people;
    }
    this.#renderPeople();
  }

  pointId() {
    const saved = Number(localStorage.getItem(POINT_KEY));
    const points = (this.current && this.current.points) || [];
    if (points.some((p) => p.id === saved)) return saved;
    const gate = this.app.device.gate;
    const zone = gate && (this.app.layout.gates || []).find((g) => g.id === gate.id)?.to_zone;
    const mine = points.find((p) => zone != null && p.zones.includes(zone)) || points[0];
    return mine ? mine.id : null;
  }

  #pickPoint() {
    localStorage.setItem(POINT_KEY, this.pointSelect.value);
    this.render();
  }

  render() {
    const shown = Boolean(this.current);
    this.root.classList.toggle("hidden", !shown);
    document.body.classList.toggle("evacuating", shown);
    if (!shown) return;
    const evac = this.current;
    this.root.dataset.kind = evac.kind;
    this.title.textContent = t(`evac.title.${evac.kind}`);
    this.message.textContent = evac.message || t("evac.default_message");
    this.labels.point.textContent = t("evac.point");
    this.labels.wedge.textContent = t("evac.wedge");
    this.labels.search.textContent = t("evac.search");
    this.labels.plan.textContent = t("evac.plan");
    this.search.placeholder = t("evac.search.placeholder");
    this.cameraButton.textContent = t(this.stopCamera ? "evac.camera.stop" : "evac.camera");
    const pointId = this.pointId();
    this.pointSelect.replaceChildren(
      ...evac.points.map((p) => el("option", { value: String(p.id), selected: p.id === pointId, textContent: p.name })),
    );
    const point = evac.points.find((p) => p.id === pointId);
    this.pointNote.textContent = point ? point.map_note : t("evac.no_points");
    this.plan.textContent = evac.plan || "—";
    this.figures.textContent = t("evac.figures", {
      accounted: evac.accounted,
      total: evac.total,
      missing: evac.missing,
      since: formatTime(evac.started_at, this.app.device.event?.timezone),
    });
    this.#renderPeople();
    this.#renderQueue();
  }

  async #renderQueue() {
    const n = await this.outbox.count();
    this.queueLine.dataset.n = String(n);
    this.queueLine.textContent = n ? t("evac.queued", { n }) : "";
  }

  #renderPeople() {
    const words = this.search.value.trim().toLowerCase();
    const matches = this.people
      .filter((p) => !words || p.name.toLowerCase().includes(words) || codeOf(p).toLowerCase().startsWith(words))
      .sort((a, b) => (a.status === "missing" ? 0 : 1) - (b.status === "missing" ? 0 : 1))
      .slice(0, SHOWN_PEOPLE);
    this.list.replaceChildren(
      ...matches.map((person) =>
        el(
          "li",
          { dataset: { person: String(person.id), status: person.status } },
          // Two people of one name are told apart by their printed code (on
          // the badge, the ticket and the attendee's page).
          el("span", { className: "evac-name" }, person.name, codeOf(person) ? el("small", { className: "evac-code", textContent: codeOf(person) }) : null),
          el("span", { className: "evac-status", textContent: t(`evac.status.${person.status}`) }),
          el("button", { type: "button", className: "evac-safe", textContent: t("evac.safe"), onclick: () => this.account({ person: person.id }, "safe") }),
          el("button", { type: "button", className: "evac-help", textContent: t("evac.needs_help"), onclick: () => this.account({ person: person.id }, "needs_help") }),
        ),
      ),
    );
  }

  /** Account for one person at this phone's point: stored first, sent when the server is there. */
  async account(who, status) {
    if (!this.current) return;
    const record = {
      nonce: newNonce(),
      evacuation: this.current.id,
      status,
      point: this.pointId(),
      occurred_at: new Date().toISOString(),
      ...who,
    };
    await this.outbox.add(record);
    const person = who.person && this.people.find((p) => p.id === who.person);
    if (person) person.status = status; // shown at once; the server's merge follows
    this.#tell(t("evac.recorded", { name: person ? person.name : "" }), "ok");
    this.#renderPeople();
    this.app.flush();
  }

  /** Called by the app's flush loop; retryable failures propagate (the phone goes offline). */
  flush() {
    return this.outbox.flush();
  }

  pendingCount() {
    return this.outbox.count();
  }

  async #send(batch) {
    const evacuationId = batch[0].evacuation;
    const same = batch.filter((r) => r.evacuation === evacuationId);
    const accounts = same.map(({ evacuation: _e, held: _h, ...body }) => body);
    let answer;
    try {
      answer = await this.app.api.post(`/api/v1/evacuations/${evacuationId}/accounts`, { accounts }, { timeoutMs: 10000 });
    } catch (error) {
      if (isRetryable(error)) throw error;
      if (error.status === 401) this.app.revoked();
      this.#tell(t("evac.failed", { code: error.code }), "bad");
      return same.map((r) => r.nonce); // refused for good: an ended or unknown evacuation
    }
    for (const result of answer.results) {
      if (result.status !== "ok") this.#tell(t(`evac.refused.${result.reason}`), "bad");
      else if (result.person) this.#merge(result.person);
    }
    this.#renderPeople();
    return same.map((r) => r.nonce);
  }

  #merge(person) {
    const index = this.people.findIndex((p) => p.id === person.id);
    if (index >= 0) this.people[index] = person;
    else this.people.push(person);
  }

  #tell(text, tone) {
    this.say.textContent = text;
    this.say.className = `message ${tone}`;
  }

  async #camera() {
    if (this.stopCamera) {
      this.#stopCamera();
      this.render();
      return;
    }
    this.video.classList.remove("hidden");
    try {
      this.stopCamera = await startCamera(this.video, (text) => this.account({ secret: text.trim() }, "safe"));
    } catch (error) {
      this.video.classList.add("hidden");
      this.#tell(cameraText(error), "bad");
    }
    this.render();
  }

  #stopCamera() {
    if (this.stopCamera) this.stopCamera();
    this.stopCamera = null;
    this.video.classList.add("hidden");
  }
}
