// The staff roster (人员名单): people, not phones — name, phone, team,
// role, supervisor flag, zone or gate. The organiser adds them one by one or
// imports a CSV (all rows or none; the server answers bad rows with codes,
// worded here by rowProblem), exports the roster, pairs a phone to a person
// (the phone then knows who holds it and starts their shift) and sees who is
// on duty where. The rules live in server/features/roster_rules.py.

import { rowProblem, TEAMS, teamName } from "../../shared/codes.js";
import { language, t } from "../../shared/i18n.js";
import { ageText } from "../../shared/time.js";
import { ask, clear, download, errorText, field, h, toast } from "./dom.js";
import { uploadCsv } from "./importer.js";

// The teams (pwa/shared/codes.js), for the console's other tabs.
export { TEAMS, teamName };

const OWN_TEAM = "__own";
const ROLES = ["door", "staff", "command"];

/** The problems of a refused member or import, one line each ("第 3 行：…"). */
function problemLines(err) {
  const rows = (err && err.details && Array.isArray(err.details.errors) && err.details.errors) || [];
  return rows.map((row) => (row.line ? t("staff.row_line", { line: row.line, problem: rowProblem(row) }) : rowProblem(row)));
}

function showProblems(box, err) {
  const lines = problemLines(err);
  clear(box, h("strong", {}, errorText(err)), lines.length ? h("ul", {}, lines.map((l) => h("li", {}, l))) : null);
  box.dataset.code = (err && err.code) || "";
  box.classList.remove("hidden");
}

export async function showStaff(view) {
  const { api, event } = view;
  const base = `/api/v1/events/${event.id}`;
  const [{ zones }, { gates }] = await Promise.all([api.get(`${base}/zones`), api.get(`${base}/gates`)]);
  if (view.stale()) return;
  const zoneName = new Map(zones.map((z) => [z.id, z.name]));
  const gateName = new Map(gates.map((g) => [g.id, g.name]));
  const liveZones = zones.filter((z) => !z.archived_at);
  const liveGates = gates.filter((g) => !g.archived_at);
  const rosterBody = h("tbody");
  const pairingBox = h("div", { class: "pairing-box hidden", id: "staff-pairing" });
  let editing = null;

  // --- the member form (add, or change the one being edited) -------------
  const teamSelect = h("select", { name: "team" },
    TEAMS.map((team) => h("option", { value: team }, t(`team.${team}`))),
    h("option", { value: OWN_TEAM }, t("staff.team_own")));
  const ownTeam = h("input", { name: "team_own", maxlength: 40, placeholder: t("staff.team_own_placeholder"), class: "hidden" });
  const syncTeam = () => ownTeam.classList.toggle("hidden", teamSelect.value !== OWN_TEAM);
  teamSelect.addEventListener("change", syncTeam);
  const form = h("form", { class: "form", id: "staff-form" },
    field("staff.name", h("input", { name: "name", required: true, maxlength: 120 })),
    field("staff.phone", h("input", { name: "phone", maxlength: 32, inputmode: "tel", placeholder: "+86 138 0000 0000" })),
    field("staff.team", h("div", { class: "row" }, teamSelect, ownTeam)),
    field("staff.role", h("select", { name: "role" }, ROLES.map((r) => h("option", { value: r }, t(`role.${r}`))))),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "supervisor" }), " ", t("staff.supervisor"),
      h("small", { class: "muted" }, " ", t("staff.supervisor_hint"))),
    field("staff.zone", h("select", { name: "zone" }, h("option", { value: "" }, "—"),
      liveZones.map((z) => h("option", { value: String(z.id) }, z.name)))),
    field("staff.gate", h("select", { name: "gate" }, h("option", { value: "" }, "—"),
      liveGates.map((g) => h("option", { value: String(g.id) }, g.name)))),
    h("div", { class: "form-error hidden", role: "alert", id: "staff-error" }),
    h("div", { class: "buttons" },
      h("button", { type: "submit", class: "primary", id: "staff-submit" }, t("staff.add")),
      h("button", { type: "button", class: "hidden", id: "staff-cancel", onclick: () => startEditing(null) }, t("action.cancel"))));
  const formError = form.querySelector("#staff-error");

  function startEditing(member) {
    editing = member;
    form.reset();
    formError.classList.add("hidden");
    form.querySelector("#staff-submit").textContent = t(member ? "action.save" : "staff.add");
    form.querySelector("#staff-cancel").classList.toggle("hidden", !member);
    if (member) {
      form.elements.name.value = member.name;
      form.elements.phone.value = member.phone || "";
      teamSelect.value = TEAMS.includes(member.team) ? member.team : OWN_TEAM;
      ownTeam.value = TEAMS.includes(member.team) ? "" : member.team;
      form.elements.role.value = member.role;
      form.elements.supervisor.checked = member.supervisor;
      form.elements.zone.value = member.zone == null ? "" : String(member.zone);
      form.elements.gate.value = member.gate == null ? "" : String(member.gate);
      form.elements.name.focus();
    }
    syncTeam();
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const body = {
      name: String(data.get("name") || "").trim(),
      phone: String(data.get("phone") || "").trim() || null,
      team: teamSelect.value === OWN_TEAM ? String(data.get("team_own") || "").trim() : teamSelect.value,
      role: String(data.get("role")),
      supervisor: data.get("supervisor") === "on",
      zone: data.get("zone") ? Number(data.get("zone")) : null,
      gate: data.get("gate") ? Number(data.get("gate")) : null,
    };
    formError.classList.add("hidden");
    try {
      if (editing) await api.patch(`/api/v1/staff/${editing.id}`, body);
      else await api.post(`${base}/staff`, body);
      toast(t(editing ? "saved" : "staff.added", { name: body.name }));
      startEditing(null);
      await loadRoster();
    } catch (err) {
      showProblems(formError, err);
    }
  });

  // --- the roster ----------------------------------------------------------
  function placeText(member) {
    const parts = [];
    if (member.zone != null) parts.push(zoneName.get(member.zone) || `#${member.zone}`);
    if (member.gate != null) parts.push(gateName.get(member.gate) || `#${member.gate}`);
    return parts.join(" · ") || "—";
  }

  function dutyCell(member) {
    if (!member.on_duty) return h("span", { class: "muted" }, t("staff.off_duty"));
    const where = member.duty.zone != null ? zoneName.get(member.duty.zone) || `#${member.duty.zone}` : t("staff.no_zone");
    return h("span", { class: "pill ok", title: member.duty.started_at }, t("staff.on_duty_in", { zone: where, since: ageText(member.duty.started_at, language()) }));
  }

  function memberRow(member) {
    return h("tr", { dataset: { staff: String(member.id) } },
      h("td", {}, member.name, member.supervisor ? h("span", { class: "pill", title: t("staff.supervisor_hint") }, " ", t("staff.supervisor")) : null),
      h("td", {}, teamName(member.team)),
      h("td", {}, t(`role.${member.role}`)),
      h("td", {}, placeText(member)),
      h("td", { class: "muted" }, member.phone || "—"),
      h("td", { class: "duty" }, dutyCell(member)),
      h("td", { class: "actions" },
        h("button", { type: "button", class: "small", onclick: () => pairMember(member), dataset: { action: "pair" } }, t("staff.pair")),
        // A supervisor may carry a second phone; pairing one otherwise replaces the others.
        member.supervisor ? h("button", { type: "button", class: "small", onclick: () => pairMember(member, true), dataset: { action: "pair-another" } }, t("staff.pair_another")) : null,
        h("button", { type: "button", class: "small", onclick: () => startEditing(member), dataset: { action: "edit" } }, t("staff.edit")),
        h("button", { type: "button", class: "small danger-outline", onclick: () => removeMember(member), dataset: { action: "remove" } }, t("staff.remove"))));
  }

  async function loadRoster() {
    const { staff } = await api.get(`${base}/staff`);
    if (view.stale()) return;
    const onDuty = staff.filter((m) => m.on_duty).length;
    summary.textContent = t("staff.summary", { n: staff.length, on_duty: onDuty });
    clear(rosterBody, staff.length
      ? staff.map(memberRow)
      : h("tr", {}, h("td", { colspan: 7, class: "empty muted" }, t("staff.none"))));
  }

  async function removeMember(member) {
    const answer = await ask({ title: t("staff.remove_title", { name: member.name }), message: t("staff.remove_help"), confirmLabel: t("staff.remove"), danger: true });
    if (answer === null) return;
    try {
      await api.delete(`/api/v1/staff/${member.id}`);
      toast(t("staff.removed", { name: member.name }));
      await loadRoster();
    } catch (err) {
      toast(errorText(err), "bad");
    }
  }

  /** A pairing code for the member: the phone that claims it replaces their others, unless `keepOthers`. */
  async function pairMember(member, keepOthers = false) {
    try {
      const p = await api.post(`/api/v1/staff/${member.id}/pairing-codes`, keepOthers ? { keep_other_phones: true } : {});
      const svg = new DOMParser().parseFromString(p.qr_svg, "image/svg+xml").documentElement;
      svg.removeAttribute("width");
      svg.removeAttribute("height");
      clear(pairingBox,
        h("div", { class: "pair-qr", id: "staff-pair-qr" }, document.importNode(svg, true)),
        h("div", { class: "pair-info" },
          h("p", {}, h("strong", {}, t("staff.pair_for", { name: member.name }))),
          h("p", { class: "pair-code", id: "staff-pair-code" }, p.display_code),
          h("p", {}, t(`role.${p.role}`), p.gate_name ? ` · ${p.gate_name}` : ""),
          h("p", { class: "muted small-text", id: "staff-pair-how" }, t(keepOthers ? "staff.pair_how_keep" : "staff.pair_how")),
          h("button", { type: "button", onclick: () => pairingBox.classList.add("hidden") }, t("staff.close"))));
      pairingBox.classList.remove("hidden");
      pairingBox.scrollIntoView({ block: "nearest" });
    } catch (err) {
      toast(errorText(err), "bad");
    }
  }

  // --- import and export -----------------------------------------------------
  const importError = h("div", { class: "form-error hidden", role: "alert", id: "staff-import-error" });
  const picker = h("input", { type: "file", accept: ".csv,text/csv", id: "staff-csv", class: "visually-hidden" });
  picker.addEventListener("change", async () => {
    const file = picker.files[0];
    picker.value = "";
    if (!file) return;
    importError.classList.add("hidden");
    try {
      const answer = await uploadCsv(`${base}/staff`, file, () => {});
      toast(t("staff.imported", { n: answer.count }));
      await loadRoster();
    } catch (err) {
      showProblems(importError, err);
    }
  });
  async function exportRoster() {
    try {
      download(await api.get(`${base}/exports/staff.csv?lang=${language()}`), `staff-${event.id}.csv`);
    } catch (err) {
      toast(errorText(err), "bad");
    }
  }

  const summary = h("span", { class: "muted", id: "staff-summary" });
  clear(view.main,
    h("div", { class: "page-head" }, h("h1", {}, t("nav.staff")), h("p", { class: "muted" }, t("staff.help"))),
    h("div", { class: "grid-2 wide-right" },
      h("section", { class: "card" }, h("h2", {}, t("staff.form_title")), form),
      h("section", { class: "card", id: "staff-import" },
        h("h2", {}, t("staff.import_title")),
        h("p", { class: "muted" }, t("staff.import_help")),
        h("div", { class: "buttons" },
          h("label", { for: "staff-csv", class: "button-like" }, t("import.choose")), picker,
          h("button", { type: "button", id: "staff-export", onclick: exportRoster }, t("staff.export"))),
        importError,
        pairingBox)),
    h("section", { class: "card", id: "roster" },
      h("div", { class: "card-head" }, h("h2", {}, t("staff.roster_title")), summary,
        h("button", { type: "button", onclick: () => loadRoster().catch((err) => toast(errorText(err), "bad")) }, t("action.refresh"))),
      h("table", { class: "table" },
        h("thead", {}, h("tr", {}, ["staff.name", "staff.team", "staff.role", "staff.place", "staff.phone", "staff.duty"].map((k) => h("th", {}, t(k))), h("th"))),
        rosterBody)));
  syncTeam();
  await loadRoster();
}
