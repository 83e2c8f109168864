// The staff phone app: start-up, pairing, the tabs, and the flush loop that
// sends whatever was queued while the network was away.

import { Api } from "/shared/api.js";
import { addStrings, applyTranslations, language, setLanguage, t } from "/shared/i18n.js";
import { cameraText, errorText } from "/shared/codes.js";
import { signatureEngine } from "/shared/secret.js";
import { TERMS } from "/shared/terms.js";
import { Broadcasts } from "./broadcasts.js";
import { Tasks } from "./tasks.js";
import { startCamera } from "./camera.js";
import { Connection } from "./connection.js";
import { Plans } from "./plans.js";
import { OPERATORS, SCANNERS, forgetDevice, loadDevice, pair, pairingCodeFrom, saveDevice } from "./device.js";
import { DoorBook } from "./doorbook.js";
import { Duty } from "./duty.js";
import { Evacuation } from "./evacuation.js";
import { unlockAudio } from "./feedback.js";
import { Incidents } from "./incidents.js";
import { ScanQueue } from "./scanqueue.js";
import { Scanner } from "./scanner.js";
import { Stock } from "./stock.js";
import { WalkIns } from "./walkin.js";
import * as store from "./store.js";
import { STRINGS } from "./strings.js";
import { LiveSocket, socketUrl } from "/shared/live.js";
import { oneAtATime } from "/shared/once.js";
import { isRetryable } from "/shared/outbox.js";

const BUNDLE_EVERY_MS = 30000;
const $ = (id) => document.getElementById(id);

addStrings(TERMS);
addStrings(STRINGS);
applyTranslations();
$("lang").addEventListener("click", () => setLanguage(language() === "zh" ? "en" : "zh"));
// WebAudio may only start after a gesture: any tap will do.
document.addEventListener("pointerdown", unlockAudio);
document.addEventListener("keydown", unlockAudio);

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch((error) => console.warn("service worker", error));
}

function showView(name) {
  for (const view of document.querySelectorAll(".view")) view.classList.toggle("hidden", view.id !== `view-${name}`);
  for (const tab of $("tabs").querySelectorAll("button")) tab.classList.toggle("on", tab.dataset.view === name);
  document.body.dataset.view = name;
}

// --- pairing ------------------------------------------------------------------

function pairingLink() {
  const params = new URLSearchParams(location.hash.slice(1));
  const code = params.get("pair");
  return code ? { code, event: params.get("event") } : null;
}

function pairMessage(text, tone = "") {
  const message = $("pair-message");
  message.textContent = text;
  message.className = `message ${tone}`;
}

async function pairWith(code) {
  pairMessage(t("pair.working"));
  try {
    const device = await pair(code, $("pair-name").value.trim());
    pairMessage(t("pair.done", { role: t(`role.${device.role}`), event: device.event.name }), "ok");
    return device;
  } catch (error) {
    const text = isRetryable(error) ? t("pair.offline") : t("pair.failed", { message: errorText(error) });
    pairMessage(text, "bad");
    return null;
  }
}

function showPairing(notice) {
  $("tabs").classList.add("hidden");
  showView("pair");
  if (notice) pairMessage(notice, "bad");
  let stopCamera = null;
  const finish = async (code) => {
    if (!(await mayReplaceData())) return;
    const device = await pairWith(code);
    if (device) {
      if (stopCamera) stopCamera();
      await store.wipe();
      startApp(device);
    }
  };
  $("pair-form").onsubmit = (event) => {
    event.preventDefault();
    finish($("pair-code").value.trim());
  };
  $("pair-camera").onclick = async () => {
    const video = $("pair-video");
    if (stopCamera) return;
    video.classList.remove("hidden");
    try {
      stopCamera = await startCamera(video, (text) => {
        const code = pairingCodeFrom(text);
        if (!code) return;
        stopCamera();
        stopCamera = null;
        video.classList.add("hidden");
        $("pair-code").value = code;
        finish(code);
      });
    } catch (error) {
      video.classList.add("hidden");
      pairMessage(cameraText(error), "bad");
    }
  };
}

// --- the paired app -------------------------------------------------------------

class App {
  constructor(device) {
    this.device = device;
    this.eventId = device.event.id;
    this.api = new Api(device.token);
    this.connection = new Connection();
    this.book = new DoorBook(this.eventId);
    this.queue = new ScanQueue(this.api, this.eventId);
    this.layout = { zones: [], gates: [] };
    this.scans = SCANNERS.has(device.role);
    this.moves = OPERATORS.has(device.role);
    this.scanner = this.scans ? new Scanner(this) : null;
    this.walkins = this.scans ? new WalkIns(this) : null;
    this.incidents = new Incidents(this);
    this.stock = this.moves ? new Stock(this) : null;
    this.evacuation = new Evacuation(this);
    this.duty = new Duty(this);
    this.broadcasts = new Broadcasts(this);
    this.tasks = new Tasks(this);
    this.plans = new Plans(this);
    this.live = null;
    // Send every queue, then refresh what the phone knows. One flush at a time.
    this.flush = oneAtATime(({ force = false } = {}) => this.#flushOnce(force));
    this.bundleAt = 0;
  }

  topics() {
    const topics = ["headcount", "evacuation", "broadcasts", "tasks"];
    if (this.scans) topics.push("admissions", "revocations", "annulments");
    if (this.moves) topics.push("incidents", "stock");
    return topics;
  }

  async start() {
    await this.book.restore();
    await this.walkins?.restore();
    await this.broadcasts.restore();
    this.tasks.mount();
    await this.tasks.restore();
    this.layout = (await store.get("kv", "layout")) || this.layout;
    $("event-name").textContent = this.device.event.name;
    $("event-name").removeAttribute("data-i18n");
    for (const tab of $("tabs").querySelectorAll("button")) {
      const view = tab.dataset.view;
      const shown = view === "device" || view === "incidents" || view === "tasks" || (view === "scan" && this.scans) || (view === "stock" && this.moves);
      tab.classList.toggle("hidden", !shown);
      tab.onclick = () => this.open(view);
    }
    $("tabs").classList.remove("hidden");
    this.scanner?.mount();
    await this.scanner?.restoreCounts();
    this.walkins?.mount();
    this.incidents.mount();
    this.stock?.mount();
    await this.duty.mount();
    this.plans.mount();
    $("sync-now").onclick = () => this.flush({ force: true });
    $("unpair").onclick = () => this.unpair();
    window.addEventListener("languagechange-muster", () => this.showDevice());
    this.open(this.scans ? "scan" : "incidents");

    this.live = new LiveSocket({
      url: socketUrl(this.eventId),
      token: this.device.token,
      topics: this.topics(),
      onMessage: (message) => this.#live(message),
      onState: (state) => this.#liveState(state),
    });
    this.connection.addEventListener("change", () => this.showOnline());
    this.connection.addEventListener("flush", () => this.flush());
    this.queue.addEventListener("change", () => this.queueChanged());
    this.showOnline();
    await this.queueChanged();
    this.requestPersistence();

    this.live.start();
    await this.incidents.render();
    await this.stock?.render();
    this.connection.start(); // its first answer flushes
  }

  /** A snapshot or update from the realtime socket (pwa/shared/live.js). */
  #live(message) {
    const data = message.data;
    switch (message.topic) {
      case "admissions":
        return this.#admissions(message);
      case "revocations":
        return this.book.revocations(data);
      case "annulments":
        return this.book.annulled(data.annulments || [data]);
      case "headcount":
        return this.scanner?.headcount(data);
      case "incidents":
        return this.incidents.changed(data);
      case "stock":
        return this.stock?.snapshot(data);
      case "evacuation":
        return this.evacuation.snapshot(data);
      case "broadcasts":
        return this.broadcasts.changed(message);
      case "tasks":
        return this.tasks.changed(message);
    }
  }

  /** The socket's state: refused for good is said on screen (a revoked token unpairs). */
  #liveState(state) {
    if (state.name === "refused_token") {
      this.revoked();
      return;
    }
    const refused = state.name === "refused_rights" || state.name === "no_event";
    const notice = $("notice");
    notice.classList.toggle("hidden", !refused);
    notice.dataset.state = state.name;
    if (refused) {
      notice.dataset.i18n = `live.${state.name}`;
      notice.textContent = t(`live.${state.name}`);
    }
  }

  async #admissions(message) {
    if (message.type === "snapshot") await this.book.admissionsSnapshot(message.data, await this.queue.pending());
    else await this.book.admitted(message.data);
  }

  open(view) {
    this.current = view;
    showView(view);
    if (view === "device") {
      this.showDevice();
      this.plans.refresh();
    }
    if (view === "tasks") this.tasks.refresh();
    if (view === "scan") this.scanner.focusWedge();
    if (view === "stock") this.stock.render();
  }

  showOnline() {
    const pill = $("online");
    const state = this.connection.online === null ? "checking" : this.connection.online ? "online" : "offline";
    pill.dataset.state = state;
    pill.dataset.i18n = `status.${state}`;
    pill.textContent = t(`status.${state}`);
  }

  /** Something was queued or sent: show how much waits, and tell the command centre. */
  async queueChanged() {
    const scans = await this.queue.length();
    const others =
      (await this.incidents.pendingCount()) +
      (this.stock ? await this.stock.pendingCount() : 0) +
      (await this.evacuation.pendingCount()) +
      (await this.duty.pendingCount()) +
      (await this.broadcasts.pendingCount()) +
      (await this.tasks.pendingCount()) +
      (this.walkins ? await this.walkins.pendingCount() : 0);
    const pill = $("queue");
    pill.dataset.n = String(scans + others);
    pill.dataset.scans = String(scans);
    pill.textContent = t("status.queue", { n: scans + others });
    this.live?.report({ queue: scans });
  }

  async #flushOnce(force) {
    try {
      let synced = 0;
      if (this.scans) synced = (await this.walkins.flush()) + (await this.queue.flush());
      await this.incidents.flush();
      await this.incidents.watch();
      if (this.stock) await this.stock.flush();
      await this.evacuation.flush();
      await this.duty.flush();
      await this.broadcasts.flush();
      await this.tasks.flush();
      if (this.scans && (force || synced || Date.now() - this.bundleAt > BUNDLE_EVERY_MS)) await this.refreshBundle();
      if (force || !this.layoutFetched) await this.refreshLayout();
      if (force || !this.listsFetched) {
        this.listsFetched = true;
        await this.incidents.refresh();
        await this.stock?.refresh();
        await this.duty.refresh();
      }
      this.live?.reconnectNow();
    } catch (error) {
      if (isRetryable(error)) this.connection.set(false);
      else if (error.status === 401) this.revoked();
      else console.warn("flush", error);
    } finally {
      await this.queueChanged();
    }
  }

  async refreshBundle() {
    const since = this.book.cursor && this.book.ready ? `?since=${encodeURIComponent(this.book.cursor)}` : "";
    const bundle = await this.api.get(`/api/v1/events/${this.eventId}/offline-bundle${since}`, { timeoutMs: 20000 });
    await this.book.applyBundle(bundle, await this.queue.pending());
    // A supervisor's blanks come with every bundle; a full one without: none any more.
    if (bundle.walk_in_blanks || !bundle.incremental) await this.walkins?.takeBlanks(bundle.walk_in_blanks || []);
    this.bundleAt = Date.now();
    this.layout = { zones: bundle.zones || this.layout.zones, gates: bundle.gates || this.layout.gates };
    await store.put("kv", this.layout, "layout");
    this.scanner?.showGate();
    this.incidents.renderForm();
  }

  async refreshLayout() {
    const base = `/api/v1/events/${this.eventId}`;
    const [zones, gates, event] = await Promise.all([this.api.get(`${base}/zones`), this.api.get(`${base}/gates`), this.api.get(base)]);
    this.layout = { zones: zones.zones, gates: gates.gates };
    // The event as it is now (incident categories and their names, its time
    // zone), not as it was when the phone was paired.
    this.device.event = event;
    saveDevice(this.device);
    this.layoutFetched = true;
    await store.put("kv", this.layout, "layout");
    this.incidents.renderForm();
  }

  async requestPersistence() {
    // Ask the browser not to evict the queue under storage pressure.
    this.persistent = null;
    if (navigator.storage && navigator.storage.persist) {
      try {
        this.persistent = (await navigator.storage.persisted()) || (await navigator.storage.persist());
      } catch {
        this.persistent = false;
      }
    }
  }

  async showDevice() {
    const facts = [
      ["device.name", this.device.name],
      ["device.role", t(`role.${this.device.role}`)],
      ["device.event", this.device.event.name],
      ["device.gate", this.device.gate ? this.device.gate.name : "—"],
      ["device.storage", t(this.persistent ? "device.storage.persistent" : "device.storage.best_effort")],
    ];
    if (this.scans) facts.push(["scan.offline_answer", t("device.engine", { engine: await signatureEngine() })]);
    $("device-facts").replaceChildren(
      ...facts.flatMap(([key, value]) => {
        const dt = document.createElement("dt");
        dt.textContent = t(key);
        const dd = document.createElement("dd");
        dd.textContent = value;
        return [dt, dd];
      }),
    );
  }

  async unpair() {
    const waiting = Number($("queue").dataset.n || 0);
    if (waiting && !confirm(t("device.unpair.confirm", { n: waiting }))) return;
    this.live?.stop();
    await store.wipe();
    forgetDevice();
    location.replace("/app/");
  }

  /**
   * The server no longer knows this token (the organiser revoked the phone,
   * say, because it was lost): what it kept goes with it — the offline
   * bundle, a supervisor's list of people, the queues, which a dead token
   * could never send anyway.
   */
  async revoked() {
    this.live?.stop();
    forgetDevice();
    showPairing(t("device.revoked"));
    await store.wipe();
  }
}

/** Pairing again replaces this phone's data: ask first if some of it was never sent. */
async function mayReplaceData() {
  let waiting = 0;
  for (const name of ["scans", "incidents", "movements", "accounts", "acks", "taskchanges", "walkins"]) waiting += await store.count(name);
  return waiting === 0 || confirm(t("device.unpair.confirm", { n: waiting }));
}

let app = null;

function startApp(device) {
  app = new App(device);
  window.musterApp = app; // for the browser tests and for debugging on a phone
  app.start();
}

async function boot() {
  const link = pairingLink();
  if (link) {
    // Take the code out of the address bar (and out of the history).
    history.replaceState(null, "", location.pathname + location.search);
    $("pair-code").value = link.code;
    showPairing();
    const device = (await mayReplaceData()) ? await pairWith(link.code) : null;
    if (device) {
      await store.wipe();
      startApp(device);
      return;
    }
    const previous = loadDevice();
    if (previous) startApp(previous);
    return;
  }
  const device = loadDevice();
  if (device) startApp(device);
  else showPairing();
}

boot();
