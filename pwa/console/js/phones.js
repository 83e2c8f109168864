// Pairing staff phones: a single-use code for a role (and a gate), shown as
// a large QR code with its countdown; the phone scans it (or opens the link)
// and gets its own token. Below, the paired phones: role, gate, last seen,
// and revoke.

import { language, t } from "../../shared/i18n.js";
import { ask, clear, errorText, field, h, onSubmit, toast } from "./dom.js";
import { ageText, formatInZone } from "../../shared/time.js";

/** While a code is on screen the device list refreshes this often, so a new phone shows up. */
const DEVICE_POLL_MS = 4000;

export async function showPhones(view) {
  const { api, event } = view;
  const base = `/api/v1/events/${event.id}`;
  const gates = (await api.get(`${base}/gates`)).gates.filter((g) => !g.archived_at);
  if (view.stale()) return;
  const pairingBox = h("div", { class: "pairing-box", id: "pairing" }, h("p", { class: "muted" }, t("pair.none_yet")));
  const deviceBody = h("tbody");
  const deviceError = h("div", { class: "form-error hidden", role: "alert" });

  async function loadDevices() {
    try {
      const { devices } = await api.get(`${base}/devices`);
      if (view.stale()) return;
      deviceError.classList.add("hidden");
      clear(deviceBody, devices.length
        ? devices.map((d) => deviceRow(d))
        : h("tr", {}, h("td", { colspan: 6, class: "empty muted" }, t("device.none"))));
    } catch (err) {
      clear(deviceError, errorText(err));
      deviceError.classList.remove("hidden");
    }
  }

  function deviceRow(d) {
    const revoked = Boolean(d.revoked_at);
    return h("tr", { dataset: { device: String(d.id) }, class: revoked ? "revoked" : "" },
      h("td", {}, d.name),
      h("td", {}, t(`role.${d.role}`)),
      h("td", {}, d.gate_name || "—"),
      h("td", { class: "muted" }, formatInZone(d.paired_at, event.timezone, language())),
      h("td", { title: d.last_seen_at || "" }, ageText(d.last_seen_at, language())),
      h("td", { class: "actions" }, revoked
        ? h("span", { class: "pill revoked" }, t("device.revoked"))
        : h("button", { type: "button", class: "small danger-outline", onclick: () => revokeDevice(d) }, t("device.revoke"))));
  }

  async function revokeDevice(d) {
    const answer = await ask({ title: t("device.revoke_title", { name: d.name }), message: t("device.revoke_help"), confirmLabel: t("device.revoke"), danger: true });
    if (answer === null) return;
    try {
      await api.post(`${base}/devices/${d.id}/revoke`, {});
      toast(t("device.revoked_toast", { name: d.name }));
      await loadDevices();
    } catch (err) {
      toast(errorText(err), "bad");
    }
  }

  const gateSelect = h("select", { name: "gate" },
    h("option", { value: "" }, t("pair.no_gate")),
    gates.map((g) => h("option", { value: String(g.id) }, g.name)));
  const roleSelect = h("select", { name: "role" }, ["door", "staff", "command"].map((r) => h("option", { value: r }, t(`role.${r}`))));
  const syncGate = () => { gateSelect.disabled = roleSelect.value !== "door"; };
  roleSelect.addEventListener("change", syncGate);
  const form = h("form", { class: "form", id: "pair-form" },
    field("pair.role", roleSelect),
    field("pair.gate", gateSelect, gates.length ? null : t("pair.no_gates_hint")),
    field("pair.device_name", h("input", { name: "device_name", maxlength: 200, placeholder: t("pair.device_name_placeholder") })),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, t("pair.create"))));
  onSubmit(form, async (data) => {
    const role = String(data.get("role"));
    const gate = role === "door" && data.get("gate") ? Number(data.get("gate")) : null;
    const pairing = await api.post(`${base}/pairing-codes`, { role, gate, device_name: String(data.get("device_name") || "").trim() });
    showPairing(pairing);
  });
  syncGate();

  let timer = null;
  function showPairing(p) {
    clearInterval(timer);
    const svg = new DOMParser().parseFromString(p.qr_svg, "image/svg+xml").documentElement;
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    const countdown = h("span", { class: "countdown", id: "pair-countdown" });
    const qr = h("div", { class: "pair-qr", id: "pair-qr" }, document.importNode(svg, true));
    clear(pairingBox,
      qr,
      h("div", { class: "pair-info" },
        h("p", { class: "pair-code", id: "pair-code" }, p.display_code),
        h("p", {}, t(`role.${p.role}`), p.gate_name ? ` · ${p.gate_name}` : "", p.device_name ? ` · ${p.device_name}` : ""),
        h("p", {}, t("pair.expires_in"), " ", countdown),
        h("p", { class: "muted small-text" }, t("pair.how")),
        h("p", { class: "muted small-text break" }, p.pairing_url),
        p.loopback ? loopbackWarning(p) : null));
    const expires = Date.parse(p.expires_at);
    let lastPoll = 0;
    const tick = () => {
      if (view.stale() || !document.body.contains(pairingBox)) return clearInterval(timer);
      const left = Math.max(0, Math.round((expires - Date.now()) / 1000));
      countdown.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
      if (left === 0) {
        clearInterval(timer);
        qr.classList.add("expired");
        countdown.textContent = t("pair.expired");
      }
      if (Date.now() - lastPoll >= DEVICE_POLL_MS) {
        lastPoll = Date.now();
        loadDevices();
      }
    };
    tick();
    timer = setInterval(tick, 1000);
  }

  clear(view.main,
    h("div", { class: "page-head" }, h("h1", {}, t("nav.phones")), h("p", { class: "muted" }, t("pair.help"))),
    h("div", { class: "grid-2 wide-right" },
      h("section", { class: "card" }, h("h2", {}, t("pair.title")), form),
      h("section", { class: "card" }, h("h2", {}, t("pair.code_title")), pairingBox)),
    h("section", { class: "card", id: "devices" },
      h("div", { class: "card-head" }, h("h2", {}, t("device.title")), h("button", { type: "button", onclick: loadDevices }, t("action.refresh"))),
      deviceError,
      h("table", { class: "table" },
        h("thead", {}, h("tr", {}, ["device.name", "pair.role", "pair.gate", "device.paired", "device.last_seen"].map((k) => h("th", {}, t(k))), h("th"))),
        deviceBody)));
  await loadDevices();
}

/**
 * The pairing link points at this computer only (127.0.0.1, localhost): a
 * phone that scans it reaches itself, not the server. Say so, and where the
 * server can be reached instead.
 */
function loopbackWarning(p) {
  const console = p.lan_base ? `${p.lan_base}/console/` : null;
  return h("div", { class: "form-error", role: "alert", id: "pair-loopback" },
    h("strong", {}, t("pair.loopback", { host: new URL(p.pairing_url).host })),
    h("p", {}, console ? t("pair.loopback_lan", { url: console }) : t("pair.loopback_none")),
    h("p", { class: "muted small-text" }, t("pair.loopback_setting")));
}
