// Stock on the floor: every item with its level and low-stock mark; pick an
// amount once, then one tap on Issue or Receive records a movement. Each
// movement carries a nonce and its time, is stored first and sent after, so
// a phone that lost the network resends safely and the ledger keeps the
// time it happened. Levels shown offline include what is still queued.

import { errorText } from "/shared/codes.js";
import { t } from "/shared/i18n.js";
import { Outbox, isRetryable, newNonce } from "/shared/outbox.js";
import * as store from "./store.js";

const AMOUNTS = [1, 5, 10, 50];
const $ = (id) => document.getElementById(id);

export class Stock {
  constructor(app) {
    this.app = app;
    this.amount = 1;
    this.items = [];
    this.outbox = new Outbox({
      store,
      name: "movements",
      timeOf: (movement) => movement.occurred_at,
      send: ([movement]) => this.#send(movement),
    });
    this.fromCache = false;
    this.refused = new Set(); // nonces the server refused for good (already said)
  }

  get base() {
    return `/api/v1/events/${this.app.device.event.id}/stock`;
  }

  mount() {
    this.renderAmounts();
    window.addEventListener("languagechange-muster", () => this.render());
  }

  renderAmounts() {
    $("stock-amounts").replaceChildren(
      ...AMOUNTS.map((n) => {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = String(n);
        button.dataset.amount = String(n);
        button.classList.toggle("on", n === this.amount);
        button.addEventListener("click", () => {
          this.amount = n;
          this.renderAmounts();
        });
        return button;
      }),
    );
  }

  say(text, tone = "") {
    const message = $("stock-message");
    message.textContent = text;
    message.className = `message ${tone}`;
  }

  async refresh() {
    try {
      const answer = await this.app.api.get(`${this.base}/items`, { timeoutMs: 8000 });
      this.items = answer.items;
      this.fromCache = false;
      await store.put("kv", this.items, "stock-items");
    } catch (error) {
      if (!isRetryable(error)) {
        this.say(errorText(error), "bad");
        return;
      }
      this.items = (await store.get("kv", "stock-items")) || this.items;
      this.fromCache = true;
    }
    await this.render();
  }

  /** The `stock` topic: a fresh snapshot of every item. */
  snapshot(data) {
    if (!data || !Array.isArray(data.items)) return;
    this.items = data.items;
    this.fromCache = false;
    store.put("kv", this.items, "stock-items");
    this.render();
  }

  async render() {
    const queued = await this.outbox.pending();
    const list = $("stock-list");
    if (!this.items.length) {
      const li = document.createElement("li");
      li.textContent = t("stock.none");
      list.replaceChildren(li);
      return;
    }
    list.replaceChildren(...this.items.map((item) => this.#row(item, queued)));
    if (this.fromCache) this.say(t("stock.offline_cached"));
  }

  #row(item, queued) {
    // What this phone has recorded but not yet sent, counted in.
    const pending = queued
      .filter((m) => m.item === item.id)
      .reduce((sum, m) => sum + (m.kind === "issue" ? -m.quantity : m.quantity), 0);
    const quantity = item.quantity + pending;
    const level = levelOf(quantity, item.low_threshold, item.critical_threshold);
    const li = document.createElement("li");
    li.dataset.item = item.id;
    li.dataset.level = level;
    const what = document.createElement("div");
    what.className = "what";
    const name = document.createElement("strong");
    name.textContent = item.location ? `${item.name} · ${item.location}` : item.name;
    const amount = document.createElement("span");
    amount.className = "level";
    amount.textContent = `${quantity} ${item.unit || ""}`.trim();
    what.append(name, amount);
    if (level !== "ok") {
      const badge = document.createElement("span");
      badge.className = `badge ${level}`;
      badge.textContent = t(`level.${level}`);
      what.append(" ", badge);
    }
    const actions = document.createElement("div");
    actions.className = "actions";
    for (const kind of ["issue", "receive"]) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.kind = kind;
      button.className = kind === "issue" ? "primary" : "";
      button.textContent = t(`stock.${kind}`);
      button.addEventListener("click", () => this.move(item, kind));
      actions.append(button);
    }
    li.append(what, actions);
    return li;
  }

  async move(item, kind) {
    const movement = {
      nonce: newNonce(),
      item: item.id,
      item_name: item.name,
      kind,
      quantity: this.amount,
      occurred_at: new Date().toISOString(),
    };
    await this.outbox.add(movement);
    this.app.queueChanged();
    await this.render();
    if (!this.app.connection.online) {
      this.say(t("stock.queued"));
      return;
    }
    try {
      await this.flush();
      if (this.refused.has(movement.nonce)) return;
      this.say(t("stock.done", { item: item.name, kind: t(`stock.${kind}`), n: this.amount }), "ok");
    } catch (error) {
      if (isRetryable(error)) {
        this.app.connection.set(false);
        this.say(t("stock.queued"));
      }
    }
  }

  pendingCount() {
    return this.outbox.count();
  }

  /** Send everything queued; resolves to the number sent. Retryable failures propagate. */
  async flush() {
    try {
      return await this.outbox.flush();
    } finally {
      this.app.queueChanged();
      await this.render();
    }
  }

  async #send(movement) {
    let answer;
    try {
      answer = await this.app.api.post(
        `${this.base}/movements`,
        {
          kind: movement.kind,
          item: movement.item,
          quantity: movement.quantity,
          nonce: movement.nonce,
          occurred_at: movement.occurred_at,
        },
        { timeoutMs: 8000 },
      );
    } catch (error) {
      if (isRetryable(error)) throw error;
      if (error.status === 401) this.app.revoked();
      // Refused for good (say, not enough left to issue): say so and
      // drop it, the server's level stands.
      this.say(t("stock.failed", { item: movement.item_name, message: errorText(error) }), "bad");
      this.refused.add(movement.nonce);
      return [movement.nonce];
    }
    if (answer && answer.item) this.items = this.items.map((i) => (i.id === answer.item.id ? answer.item : i));
    return [movement.nonce];
  }
}

/** The same rule as server/features/stock_rules.py stock_level. */
function levelOf(quantity, low, critical) {
  if (critical !== null && critical !== undefined && quantity <= critical) return "critical";
  if (low !== null && low !== undefined && quantity <= low) return "low";
  return "ok";
}
