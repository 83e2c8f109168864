// The organiser's token: taken once from the link `muster serve` prints
// ({base}/console/#token=mst_…), kept in localStorage, and removed from the
// address bar at once so it does not linger in history, screenshots or a
// shared screen.

const TOKEN_KEY = "muster.console.token";

export function takeTokenFromLink() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (!token) return false;
  localStorage.setItem(TOKEN_KEY, token.trim());
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  return true;
}

export function storedToken() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

export function saveToken(token) {
  localStorage.setItem(TOKEN_KEY, token.trim());
}

export function forgetToken() {
  localStorage.removeItem(TOKEN_KEY);
}

/** Where the console is: {event, tab} from "#event=3&tab=venue". */
export function currentRoute() {
  const params = new URLSearchParams(location.hash.slice(1));
  const event = Number.parseInt(params.get("event") || "", 10);
  return { event: Number.isFinite(event) ? event : null, tab: params.get("tab") || "overview" };
}

export function routeHash({ event, tab }) {
  const params = new URLSearchParams();
  if (event != null) params.set("event", String(event));
  if (event != null && tab && tab !== "overview") params.set("tab", tab);
  const text = params.toString();
  return text ? `#${text}` : "#";
}
