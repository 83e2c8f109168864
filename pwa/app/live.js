// The realtime socket: one per phone. Door phones follow `admissions` and
// `revocations` (so their offline knowledge is seconds old) and `headcount`;
// staff phones follow `incidents` and `stock`. The hello says where we got
// to on each stream topic, so a reconnect replays the gap (or the server
// sends a fresh snapshot, which replaces what we had). The phone reports its
// queue length for the command centre's gate health.

import { socketUrl } from "/shared/api.js";

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 15000;

export class Live extends EventTarget {
  constructor(eventId, token, topics) {
    super();
    this.eventId = eventId;
    this.token = token;
    this.topics = topics;
    this.since = {};
    this.socket = null;
    this.retry = RETRY_MIN_MS;
    this.stopped = false;
    this.timer = null;
    this.lastQueue = null;
  }

  start() {
    this.stopped = false;
    this.#connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close();
  }

  /** Reconnect now (the connection probe says the server is back). */
  nudge() {
    if (this.stopped) return;
    if (!this.socket || this.socket.readyState === WebSocket.CLOSED) {
      clearTimeout(this.timer);
      this.#connect();
    }
  }

  get connected() {
    return Boolean(this.socket && this.socket.readyState === WebSocket.OPEN);
  }

  reportQueue(length) {
    this.lastQueue = length;
    if (this.connected) this.socket.send(JSON.stringify({ type: "status", queue: length }));
  }

  #connect() {
    let socket;
    try {
      socket = new WebSocket(socketUrl(this.eventId));
    } catch {
      this.#later();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.retry = RETRY_MIN_MS;
      socket.send(JSON.stringify({ type: "hello", token: this.token, topics: this.topics, since: this.since }));
      if (this.lastQueue !== null) socket.send(JSON.stringify({ type: "status", queue: this.lastQueue }));
      this.dispatchEvent(new Event("open"));
    };
    socket.onmessage = (event) => this.#receive(event.data);
    socket.onclose = (event) => {
      if (this.socket === socket) this.socket = null;
      this.dispatchEvent(new CustomEvent("close", { detail: event.code }));
      // 4401: the token is no good any more (revoked device): do not retry.
      if (event.code === 4401) {
        this.dispatchEvent(new Event("unauthorized"));
        return;
      }
      this.#later();
    };
  }

  #later() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.#connect(), this.retry);
    this.retry = Math.min(this.retry * 2, RETRY_MAX_MS);
  }

  #receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.type === "ping") {
      this.socket?.send(JSON.stringify({ type: "pong", t: message.t }));
      return;
    }
    if (message.topic && message.epoch !== undefined && message.offset !== undefined) {
      this.since[message.topic] = { epoch: message.epoch, offset: message.offset };
    }
    if (message.type === "snapshot" || message.type === "update") {
      this.dispatchEvent(new CustomEvent(message.topic, { detail: message }));
    }
  }
}
