// Attendees and tickets: import, issue one, issue and print walk-in badges,
// search, revoke or re-issue, download a QR, copy the attendee's link.

import { language, t } from "../../shared/i18n.js";
import { ask, clear, download, errorText, field, h, onSubmit, toast } from "./dom.js";
import { printBadges } from "./badges.js";
import { importCard } from "./importer.js";
import { formatInZone } from "../../shared/time.js";

const PAGE_SIZE = 50;

export async function showTickets(view) {
  const { api, event } = view;
  const base = `/api/v1/events/${event.id}`;
  const { ticket_types: types } = await api.get(`${base}/ticket-types`);
  if (view.stale()) return;
  const typeNames = new Map(types.map((tt) => [tt.id, tt.name]));
  const list = ticketList(view, types, typeNames);
  const imports = importCard(view, (result) => {
    list.reload();
    const status = document.getElementById("import-ok");
    if (status && result.tickets.length) {
      status.append(" ", h("button", { type: "button", onclick: () => printBadges(api, event, result.tickets, typeNames) },
        t("print.these", { n: result.tickets.length })));
    }
  });
  clear(view.main,
    h("div", { class: "page-head" }, h("h1", {}, t("nav.tickets"))),
    h("div", { class: "grid-2 wide-left" }, imports,
      h("div", { class: "stack" }, issueOneCard(view, types, list), walkInCard(view, types, typeNames, list))),
    list.card);
  await list.reload();
}

function typeSelect(types, name = "ticket_type") {
  const select = h("select", { name }, types.map((tt) => h("option", { value: String(tt.id), selected: tt.is_default }, tt.name)));
  return select;
}

function issueOneCard(view, types, list) {
  const { api, event } = view;
  const form = h("form", { class: "form", id: "issue-one" },
    field("ticket.holder_name", h("input", { name: "holder_name", required: true, maxlength: 200 })),
    field("ticket.holder_email", h("input", { name: "holder_email", type: "email", maxlength: 320 })),
    field("ticket.type", typeSelect(types)),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, t("ticket.issue"))));
  onSubmit(form, async (data) => {
    const ticket = await api.post(`/api/v1/events/${event.id}/tickets`, {
      holder_name: String(data.get("holder_name")).trim(),
      holder_email: String(data.get("holder_email")).trim(),
      ticket_type: Number(data.get("ticket_type")),
    });
    form.reset();
    toast(t("ticket.issued", { name: ticket.holder_name, code: ticket.code }));
    await list.reload();
  });
  return h("section", { class: "card" }, h("h2", {}, t("ticket.issue_one")), form);
}

function walkInCard(view, types, typeNames, list) {
  const { api, event } = view;
  const form = h("form", { class: "form", id: "walk-ins" },
    h("div", { class: "row" },
      field("walkin.count", h("input", { name: "count", type: "number", min: 1, max: 480, value: "12", required: true })),
      field("ticket.type", typeSelect(types))),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, t("walkin.print"))));
  onSubmit(form, async (data) => {
    const n = Number(data.get("count"));
    const label = t("walkin.name");
    const tickets = Array.from({ length: n }, (_, i) => ({
      holder_name: `${label} ${String(i + 1).padStart(3, "0")}`,
      ticket_type: Number(data.get("ticket_type")),
    }));
    const result = await api.post(`/api/v1/events/${event.id}/tickets`, { tickets }, { timeoutMs: 120000 });
    await list.reload();
    await printBadges(api, event, result.tickets, typeNames);
  });
  return h("section", { class: "card" }, h("h2", {}, t("walkin.title")), h("p", { class: "muted" }, t("walkin.help")), form);
}

function ticketLink(ticket) {
  return `${location.origin}/t/${ticket.secret}`;
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Clipboard access needs a secure context or permission; fall back to a selected field.
    const area = h("textarea", { style: { position: "fixed", opacity: "0" } }, text);
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
}

function ticketList(view, types, typeNames) {
  const { api, event } = view;
  const base = `/api/v1/events/${event.id}`;
  let offset = 0;
  let rows = [];
  const selected = new Set();
  const search = h("input", { type: "search", name: "q", id: "ticket-search", placeholder: t("ticket.search_placeholder"), "aria-label": t("ticket.search") });
  const body = h("tbody");
  const pager = h("div", { class: "pager" });
  const printSelected = h("button", { type: "button", id: "print-selected", disabled: true }, t("print.selected", { n: 0 }));
  const errorBox = h("div", { class: "form-error hidden", role: "alert" });
  const allBox = h("input", { type: "checkbox", "aria-label": t("ticket.select_all") });

  const updateSelection = () => {
    printSelected.disabled = selected.size === 0;
    printSelected.textContent = t("print.selected", { n: selected.size });
    allBox.checked = rows.length > 0 && rows.every((r) => selected.has(r.id));
  };
  allBox.addEventListener("change", () => {
    for (const r of rows) allBox.checked ? selected.add(r.id) : selected.delete(r.id);
    for (const box of body.querySelectorAll("input.pick")) box.checked = allBox.checked;
    updateSelection();
  });
  printSelected.addEventListener("click", () => {
    const chosen = [...selectedTickets.values()].filter((tk) => selected.has(tk.id));
    printBadges(api, event, chosen, typeNames).catch((err) => toast(errorText(err), "bad"));
  });
  const selectedTickets = new Map();

  async function reload() {
    const q = search.value.trim();
    try {
      const data = await api.get(`${base}/tickets?q=${encodeURIComponent(q)}&limit=${PAGE_SIZE + 1}&offset=${offset}`);
      rows = data.tickets.slice(0, PAGE_SIZE);
      errorBox.classList.add("hidden");
      for (const r of rows) selectedTickets.set(r.id, r);
      clear(body, rows.length ? rows.map(row) : h("tr", {}, h("td", { colspan: 9, class: "empty muted" }, t(q ? "ticket.no_match" : "ticket.none"))));
      clear(pager,
        h("button", { type: "button", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE_SIZE); reload(); } }, t("page.prev")),
        h("span", { class: "muted" }, rows.length ? t("page.range", { from: offset + 1, to: offset + rows.length }) : ""),
        h("button", { type: "button", disabled: data.tickets.length <= PAGE_SIZE, onclick: () => { offset += PAGE_SIZE; reload(); } }, t("page.next")));
      updateSelection();
    } catch (err) {
      clear(errorBox, errorText(err));
      errorBox.classList.remove("hidden");
    }
  }

  function row(ticket) {
    const revoked = ticket.status === "revoked";
    const pick = h("input", { type: "checkbox", class: "pick", checked: selected.has(ticket.id), disabled: revoked, "aria-label": ticket.holder_name });
    pick.addEventListener("change", () => { pick.checked ? selected.add(ticket.id) : selected.delete(ticket.id); updateSelection(); });
    return h("tr", { dataset: { ticket: String(ticket.id), code: ticket.code }, class: revoked ? "revoked" : "" },
      h("td", {}, pick),
      h("td", { class: "code" }, ticket.code),
      h("td", {}, ticket.holder_name),
      h("td", { class: "muted" }, ticket.holder_email),
      h("td", {}, typeNames.get(ticket.ticket_type) || ticket.ticket_type),
      h("td", {}, h("span", { class: `pill ${ticket.status}` }, t(`status.${ticket.status}`))),
      h("td", { class: "muted" }, ticket.checked_in_at ? formatInZone(ticket.checked_in_at, event.timezone, language()) : "—"),
      h("td", { class: "actions" },
        revoked ? null : h("button", { type: "button", class: "small", title: t("ticket.qr_help"), onclick: () => downloadQr(ticket) }, t("ticket.qr")),
        revoked ? null : h("button", { type: "button", class: "small", onclick: async () => { await copyText(ticketLink(ticket)); toast(t("ticket.link_copied")); } }, t("ticket.copy_link")),
        revoked ? null : h("a", { href: `/t/${ticket.secret}`, target: "_blank", rel: "noopener noreferrer", class: "small" }, t("ticket.open"))),
      h("td", { class: "actions" },
        revoked ? null : h("button", { type: "button", class: "small danger-outline", onclick: () => revoke(ticket, false) }, t("ticket.revoke")),
        h("button", { type: "button", class: "small", onclick: () => revoke(ticket, true) }, t("ticket.reissue"))));
  }

  async function downloadQr(ticket) {
    try {
      const blob = await api.get(`/api/v1/tickets/${ticket.id}/qr.png?scale=10`);
      download(blob, `ticket-${ticket.code}.png`);
    } catch (err) {
      toast(errorText(err), "bad");
    }
  }

  async function revoke(ticket, reissue) {
    const reason = await ask({
      title: t(reissue ? "ticket.reissue_title" : "ticket.revoke_title", { name: ticket.holder_name }),
      message: t(reissue ? "ticket.reissue_help" : "ticket.revoke_help"),
      inputLabel: t("ticket.reason"),
      confirmLabel: t(reissue ? "ticket.reissue" : "ticket.revoke"),
      danger: !reissue,
    });
    if (reason === null) return;
    try {
      const updated = await api.post(`/api/v1/tickets/${ticket.id}/revoke`, { reissue, reason });
      toast(t(reissue ? "ticket.reissued" : "ticket.revoked", { name: updated.holder_name }));
      selectedTickets.set(updated.id, updated);
      await reload();
    } catch (err) {
      toast(errorText(err), "bad");
    }
  }

  let debounce = null;
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => { offset = 0; reload(); }, 250);
  });
  const card = h("section", { class: "card", id: "ticket-list" },
    h("div", { class: "card-head" }, h("h2", {}, t("ticket.list")), search, printSelected),
    errorBox,
    h("div", { class: "table-scroll" }, h("table", { class: "table tickets" },
      h("thead", {}, h("tr", {}, h("th", {}, allBox), ["ticket.code", "ticket.holder_name", "ticket.holder_email", "ticket.type", "ticket.status", "ticket.checked_in"].map((k) => h("th", {}, t(k))), h("th", {}, t("ticket.send")), h("th"))),
      body)),
    pager);
  return { card, reload };
}
