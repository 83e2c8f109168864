// Broadcasts on the staff phone. The `broadcasts` topic brings only what is
// for this phone (the server checks each message's audience per socket:
// server/features/broadcast_rules.py); the list is read over HTTP at each snapshot,
// so a phone that was offline when a broadcast went out shows it once back.
//
// An urgent broadcast that asks for a confirmation takes the whole screen,
// with a sound and a buzz every few seconds, until it is acknowledged; an
// info one is a banner at the top until dismissed. The acknowledgement is
// stored first and sent after, through the shared outbox
// (pwa/shared/outbox.js) with a nonce: the server counts one per phone and
// broadcast, so a queue flushed twice (or a tap from two tabs) counts once.

import { addStrings, formatTime, language, t } from "/shared/i18n.js";
import { renderMarkdown } from "/shared/markdown.js";
import { Outbox, isRetryable, newNonce } from "/shared/outbox.js";
import { BROADCAST_STRINGS } from "./broadcast_strings.js";
import { alarm } from "./feedback.js";
import { el } from "./element.js";
import * as store from "./store.js";

addStrings(BROADCAST_STRINGS);

const LIST_KEY = "broadcasts";
const DISMISSED_KEY = "broadcasts-dismissed";
const ALARM_EVERY_MS = 4000;
const SHOWN_INFO = 3;

/** A broadcast's words in the page's language, else the other's. */
export function wordsOf(broadcast) {
  const text = broadcast.text || {};
  return language() === "zh" ? text.zh || text.en || "" : text.en || text.zh || "";
}

/**
 * What the phone shows, a pure function of the list, the acknowledgements
 * waiting in the outbox and the info broadcasts dismissed here:
 * {urgent: the oldest urgent one still to acknowledge, or null; banners: info ones}.
 */
export function broadcastView(list, queued, dismissed) {
  const open = list.filter((b) => !b.acked && !queued.has(b.id));
  const urgent = open.filter((b) => b.priority === "urgent" && b.ack_required).sort((a, b) => a.id - b.id);
  const banners = open.filter((b) => !(b.priority === "urgent" && b.ack_required) && !dismissed.has(b.id));
  return { urgent: urgent[0] || null, waiting: urgent.length, banners: banners.slice(0, SHOWN_INFO) };
}

export class Broadcasts {
  constructor(app) {
    this.app = app;
    this.list = [];
    this.queued = new Set();
    this.dismissed = new Set();
    this.alarmTimer = null;
    this.outbox = new Outbox({
      store,
      name: "acks",
      timeOf: (record) => record.acked_at,
      send: (batch) => this.#send(batch),
    });
    this.outbox.addEventListener("change", () => this.app.queueChanged());
    this.#build();
    window.addEventListener("languagechange-muster", () => this.render());
  }

  #build() {
    this.title = el("h1", { id: "bc-title" });
    this.text = el("p", { id: "bc-text", className: "bc-text" });
    this.when = el("p", { id: "bc-when", className: "bc-when" });
    this.planTitle = el("h2", { id: "bc-plan-title" });
    this.plan = el("div", { id: "bc-plan", className: "bc-plan" });
    this.more = el("p", { id: "bc-more", className: "bc-when" });
    this.ackButton = el("button", { type: "button", id: "bc-ack", className: "bc-ack", onclick: () => this.#ackShown() });
    this.screen = el(
      "section",
      { id: "broadcast-urgent", className: "bc-urgent hidden", role: "alertdialog" },
      this.title,
      this.text,
      this.when,
      this.planTitle,
      this.plan,
      this.more,
      this.ackButton,
    );
    this.banners = el("div", { id: "broadcast-banners", className: "bc-banners", role: "status" });
    document.body.append(this.screen);
    document.body.prepend(this.banners);
  }

  async restore() {
    this.list = (await store.get("kv", LIST_KEY)) || [];
    this.dismissed = new Set((await store.get("kv", DISMISSED_KEY)) || []);
    this.queued = new Set((await this.outbox.pending()).map((r) => r.broadcast));
    this.render();
  }

  /** A message of the `broadcasts` topic (only those for this phone arrive). */
  changed(message) {
    if (message.type === "snapshot") return this.refresh();
    const data = message.data || {};
    if ((data.kind === "broadcast" || data.kind === "resend") && data.broadcast) {
      const known = this.list.find((b) => b.id === data.broadcast.id);
      if (known) Object.assign(known, data.broadcast);
      else this.list.unshift({ ...data.broadcast, acked: false });
      store.put("kv", this.list, LIST_KEY);
      this.render({ fresh: true });
    }
  }

  /** The broadcasts for this phone, with its own receipts, from the server. */
  async refresh() {
    try {
      const answer = await this.app.api.get(`/api/v1/events/${this.app.eventId}/broadcasts`, { timeoutMs: 8000 });
      this.list = answer.broadcasts;
      await store.put("kv", this.list, LIST_KEY);
    } catch (error) {
      if (!isRetryable(error)) console.warn("broadcasts", error);
    }
    this.render({ fresh: true });
  }

  render({ fresh = false } = {}) {
    const view = broadcastView(this.list, this.queued, this.dismissed);
    this.#renderUrgent(view, fresh);
    this.banners.replaceChildren(
      ...view.banners.map((b) =>
        el(
          "div",
          { className: `bc-banner bc-banner-${b.priority}`, dataset: { broadcast: String(b.id) } },
          el("span", { className: "bc-banner-text", textContent: wordsOf(b) }),
          el("button", { type: "button", className: "bc-dismiss", textContent: t(b.ack_required ? "bc.ack" : "bc.dismiss"), onclick: () => this.#dismiss(b) }),
        ),
      ),
    );
  }

  #renderUrgent(view, fresh) {
    const shown = view.urgent;
    this.screen.classList.toggle("hidden", !shown);
    document.body.classList.toggle("broadcast-urgent", Boolean(shown));
    if (!shown) {
      this.#stopAlarm();
      return;
    }
    const isNew = this.screen.dataset.broadcast !== String(shown.id);
    this.screen.dataset.broadcast = String(shown.id);
    this.title.textContent = t("bc.urgent");
    this.text.textContent = wordsOf(shown);
    this.when.textContent = t("bc.sent_at", { time: formatTime(shown.sent_at, this.app.device.event.timezone) });
    const plan = shown.plan;
    this.planTitle.classList.toggle("hidden", !plan);
    this.plan.classList.toggle("hidden", !plan);
    if (plan) {
      const zh = language() === "zh";
      this.planTitle.textContent = (zh ? plan.title.zh || plan.title.en : plan.title.en || plan.title.zh) || t("bc.plan");
      this.plan.replaceChildren(renderMarkdown((zh ? plan.steps.zh || plan.steps.en : plan.steps.en || plan.steps.zh) || ""));
    }
    this.more.textContent = view.waiting > 1 ? t("bc.more", { n: view.waiting - 1 }) : "";
    this.ackButton.textContent = t("bc.ack");
    if (isNew || fresh) this.#startAlarm();
  }

  #startAlarm() {
    if (this.alarmTimer !== null) return;
    alarm();
    this.alarmTimer = setInterval(alarm, ALARM_EVERY_MS);
  }

  #stopAlarm() {
    clearInterval(this.alarmTimer);
    this.alarmTimer = null;
  }

  #ackShown() {
    const id = Number(this.screen.dataset.broadcast);
    const broadcast = this.list.find((b) => b.id === id);
    if (broadcast) this.acknowledge(broadcast);
  }

  #dismiss(broadcast) {
    if (broadcast.ack_required) return this.acknowledge(broadcast);
    this.dismissed.add(broadcast.id);
    store.put("kv", [...this.dismissed], DISMISSED_KEY);
    this.render();
  }

  /** Stored first, sent when the server is there (the outbox retries). */
  async acknowledge(broadcast) {
    this.queued.add(broadcast.id);
    this.render();
    await this.outbox.add({ nonce: newNonce(), broadcast: broadcast.id, acked_at: new Date().toISOString() });
    this.app.flush();
  }

  /** Called by the app's flush loop; retryable failures propagate (the phone goes offline). */
  flush() {
    return this.outbox.flush();
  }

  pendingCount() {
    return this.outbox.count();
  }

  async #send([record]) {
    try {
      await this.app.api.post(`/api/v1/broadcasts/${record.broadcast}/ack`, { nonce: record.nonce, acked_at: record.acked_at }, { timeoutMs: 8000 });
    } catch (error) {
      if (isRetryable(error)) throw error;
      if (error.status === 401) this.app.revoked();
      // Refused for good (not for this phone, gone): nothing to send again.
    }
    const known = this.list.find((b) => b.id === record.broadcast);
    if (known) known.acked = true;
    this.queued.delete(record.broadcast);
    await store.put("kv", this.list, LIST_KEY);
    return [record.nonce];
  }
}
