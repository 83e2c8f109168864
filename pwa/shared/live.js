// The one websocket client of every Muster page (the staff phone, the
// command centre): one connection to /ws/events/{event}, resumed after every
// drop without reloading the page.
//
// Protocol (DESIGN.md, Realtime): the client opens with a hello carrying its
// token, the topics it wants and, for each topic, the last (epoch, offset) it
// applied. The server replays what was missed or, when it cannot, sends a
// fresh snapshot. Stream topics therefore lose nothing across a reconnect as
// long as we remember where we were — which is why the positions live here,
// outside any one socket. Browsers cannot set headers on a websocket and a
// token in the URL ends up in logs, hence the hello.
//
// Close codes: 4401 bad token, 4403 no rights and 4404 no such event are
// final (retrying cannot help; the page says why); 4008 means we fell behind
// and should resume at once; anything else (a network drop, a server
// restart) is retried with capped, jittered backoff. A server that goes away
// (1001, 1012) closes every socket in the same instant, so those retries
// spread over a wider window: 5,000 phones must not return in lockstep.

export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_RESTART = 1012;
export const CLOSE_BAD_TOKEN = 4401;
export const CLOSE_NO_RIGHTS = 4403;
export const CLOSE_NO_EVENT = 4404;
export const CLOSE_FELL_BEHIND = 4008;
/** Close codes after which the client gives up, and the state it reports. */
export const FINAL = { [CLOSE_BAD_TOKEN]: "refused_token", [CLOSE_NO_RIGHTS]: "refused_rights", [CLOSE_NO_EVENT]: "no_event" };

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10000;
/** After a server restart every client reconnects within this window, uniformly. */
const RESTART_SPREAD_MS = 3000;
// The server pings every MUSTER_WS_PING_INTERVAL (20 s by default); a socket
// that says nothing for much longer than that is dead even if the browser
// has not noticed (a laptop lid, a Wi-Fi hand-over), so we drop it.
const SILENCE_LIMIT_MS = 50000;

/** The delay before reconnect attempt number ``attempt`` (0-based): half the ceiling plus jitter. */
export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** The delay before the first reconnect after the server closed with ``code``. */
export function firstRetryDelay(code, random = Math.random) {
  if (code === CLOSE_GOING_AWAY || code === CLOSE_RESTART) {
    return Math.round(BACKOFF_FIRST_MS / 2 + random() * (RESTART_SPREAD_MS - BACKOFF_FIRST_MS / 2));
  }
  return backoffDelay(0, random);
}

/**
 * Whether a message at (epoch, offset) is new to a reader positioned at
 * ``position``. A replay may overlap what we already applied; a different
 * epoch means history was lost and whatever comes is authoritative.
 */
export function isNewMessage(position, epoch, offset) {
  if (!position || position.epoch !== epoch) return true;
  if (typeof offset !== "number" || typeof position.offset !== "number") return true;
  return offset > position.offset;
}

/** The websocket URL of an event, on this origin. */
export function socketUrl(eventId) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/events/${eventId}`;
}

export class LiveSocket {
  /**
   * @param {object} options
   * @param {string} options.url websocket URL of the event
   * @param {string} options.token bearer token sent in the hello
   * @param {string[]} options.topics topics to subscribe to
   * @param {(message: object) => void} options.onMessage called with each new snapshot or update
   * @param {(message: object) => void} [options.onNotice] called with the server's welcome and errors
   * @param {(state: object) => void} [options.onState] called when the connection state changes:
   *   {name: "connecting" | "live" | "reconnecting" | "reconnecting_now" | "offline" |
   *   "refused_token" | "refused_rights" | "no_event", retryAt?, since?}
   * @param {number} [options.silenceMs] how long a silent socket is trusted
   */
  constructor({ url, token, topics, onMessage, onNotice = () => {}, onState = () => {}, silenceMs = SILENCE_LIMIT_MS }) {
    this.url = url;
    this.token = token;
    this.topics = topics;
    this.onMessage = onMessage;
    this.onNotice = onNotice;
    this.onState = onState;
    this.silenceMs = silenceMs;
    /** topic → {epoch, offset} of the last message applied */
    this.positions = {};
    this.socket = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.silenceTimer = null;
    this.stopped = true;
    this.state = { name: "connecting" };
    this.lastMessageAt = null;
    this.lastClose = null;
    /** Sent after every welcome (the phone's queue length, for gate health). */
    this.status = null;
    this.onOnline = () => this.reconnectNow();
  }

  get live() {
    return this.state.name === "live" && Boolean(this.socket) && this.socket.readyState === WebSocket.OPEN;
  }

  /** True once the server refused us for good (the state says why). */
  get refused() {
    return Object.values(FINAL).includes(this.state.name);
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
    if (this.socket) this.socket.close(1000, "bye");
    this.socket = null;
  }

  /** Close the current socket as a network failure would (used by tests and the watchdog). */
  drop() {
    if (this.socket) this.socket.close(4000, "dropped by client");
  }

  /** Skip the rest of a backoff wait, e.g. when the browser or a probe says the server is back. */
  reconnectNow() {
    if (this.stopped || this.socket || this.refused) return;
    this.connect();
  }

  /** Tell the server a status (kept, and sent again after every reconnect). */
  report(status) {
    this.status = status;
    if (this.live) this.socket.send(JSON.stringify({ type: "status", ...status }));
  }

  hello() {
    const since = {};
    for (const topic of this.topics) {
      if (this.positions[topic]) since[topic] = { ...this.positions[topic] };
    }
    return { type: "hello", token: this.token, topics: this.topics, since };
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.setState({ name: this.attempt ? "reconnecting_now" : "connecting" });
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify(this.hello()));
      this.watchSilence();
    });
    socket.addEventListener("message", (event) => {
      if (socket !== this.socket) return;
      this.receive(socket, event.data);
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      clearTimeout(this.silenceTimer);
      this.closed(event.code);
    });
  }

  receive(socket, text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    this.lastMessageAt = new Date();
    this.watchSilence();
    switch (message.type) {
      case "ping":
        socket.send(JSON.stringify({ type: "pong", t: message.t }));
        return;
      case "welcome":
        // The hello was accepted: from here on we are live.
        this.attempt = 0;
        this.setState({ name: "live" });
        if (this.status) socket.send(JSON.stringify({ type: "status", ...this.status }));
        this.onNotice(message);
        return;
      case "error":
        this.onNotice(message);
        return;
      case "snapshot":
      case "update":
        break;
      default:
        // "resume" announces a replay of ``count`` messages; they follow as updates.
        return;
    }
    const { topic, epoch, offset } = message;
    if (message.type === "update" && !isNewMessage(this.positions[topic], epoch, offset)) return;
    if (topic !== undefined && epoch !== undefined && offset !== undefined) this.positions[topic] = { epoch, offset };
    this.onMessage(message);
  }

  closed(code) {
    this.lastClose = code;
    if (this.stopped) return;
    if (code in FINAL) {
      this.setState({ name: FINAL[code], since: this.lastMessageAt });
      return;
    }
    if (code === CLOSE_FELL_BEHIND) {
      // The server dropped us for being slow; resume at once from our positions.
      this.attempt = 0;
      this.connect();
      return;
    }
    this.scheduleRetry(code);
  }

  scheduleRetry(code) {
    const delay = this.attempt === 0 ? firstRetryDelay(code) : backoffDelay(this.attempt);
    this.attempt += 1;
    const retryAt = Date.now() + delay;
    this.setState({ name: navigator.onLine === false ? "offline" : "reconnecting", retryAt, since: this.lastMessageAt });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  watchSilence() {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => this.drop(), this.silenceMs);
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }
}
