// Ticket mail: send every ticket not yet mailed, follow the job as a
// progress bar, see each failure with its reason and the mail server's
// answer, resend one ticket. The server mails in the background; this page
// polls GET /api/v1/mailings/{id} while a job runs.

import { language, t } from "../../shared/i18n.js";
import { clear, errorText, h, toast } from "./dom.js";
import { formatInZone } from "../../shared/time.js";

const POLL_MS = 1000;

export async function showMail(view) {
  const { api, event } = view;
  const base = `/api/v1/events/${event.id}`;
  const { mailings } = await api.get(`${base}/mailings`);
  if (view.stale()) return;
  const status = h("div", { id: "mail-status" });
  const history = h("div", { id: "mail-history" });
  const sendButton = h("button", { type: "button", class: "primary", id: "mail-send" }, t("mail.send_unsent"));
  const errorBox = h("div", { class: "form-error hidden", role: "alert", id: "mail-error" });
  let timer = null;

  async function start(body) {
    errorBox.classList.add("hidden");
    try {
      const mailing = await api.post(`${base}/mailings`, body);
      toast(t("mail.queued", { n: mailing.total }));
      follow(mailing.id);
      refreshHistory();
      return mailing;
    } catch (err) {
      clear(errorBox, errorText(err));
      errorBox.classList.remove("hidden");
      return null;
    }
  }

  async function follow(id) {
    clearTimeout(timer);
    if (view.stale()) return;
    let mailing;
    try {
      mailing = await api.get(`/api/v1/mailings/${id}?status=failed&limit=200`);
    } catch (err) {
      clear(errorBox, errorText(err));
      errorBox.classList.remove("hidden");
      timer = setTimeout(() => follow(id), POLL_MS * 3);
      return;
    }
    if (view.stale()) return;
    clear(status, progressCard(mailing, event, resend));
    if (!mailing.done) timer = setTimeout(() => follow(id), POLL_MS);
    else refreshHistory();
  }

  async function resend(delivery) {
    const mailing = await start({ to: "tickets", tickets: [delivery.ticket] });
    if (mailing && mailing.total === 0) toast(t("mail.already_queued"), "bad");
  }

  async function refreshHistory() {
    try {
      const { mailings: latest } = await api.get(`${base}/mailings`);
      if (!view.stale()) clear(history, historyTable(latest, event, follow));
    } catch {
      // The list is a convenience; the progress card stays.
    }
  }

  sendButton.addEventListener("click", async () => {
    sendButton.disabled = true;
    try {
      await start({ to: "unsent" });
    } finally {
      sendButton.disabled = false;
    }
  });
  clear(view.main,
    h("div", { class: "page-head" }, h("h1", {}, t("nav.mail")), h("p", { class: "muted" }, t("mail.help"))),
    h("section", { class: "card" },
      h("h2", {}, t("mail.send_title")),
      h("p", { class: "muted" }, t("mail.send_help")),
      h("div", { class: "buttons" }, sendButton),
      errorBox,
      status),
    h("section", { class: "card" }, h("h2", {}, t("mail.history")), history));
  clear(history, historyTable(mailings, event, follow));
  if (mailings.length) follow(mailings[0].id);
}

function progressCard(mailing, event, resend) {
  const finished = mailing.counts.sent + mailing.counts.failed;
  const bar = h("progress", { id: "mail-progress", max: String(Math.max(mailing.total, 1)), value: String(mailing.total ? finished : 1) });
  const summary = h("p", { id: "mail-summary" },
    mailing.done ? t("mail.done", { sent: mailing.counts.sent, failed: mailing.counts.failed, total: mailing.total })
      : t("mail.running", { done: finished, total: mailing.total, failed: mailing.counts.failed }));
  const failures = mailing.deliveries.filter((d) => d.status === "failed");
  return h("div", { class: "progress-line", dataset: { mailing: String(mailing.id), done: String(mailing.done) } },
    h("strong", {}, t("mail.job", { id: mailing.id, at: formatInZone(mailing.created_at, event.timezone, language()) }),
      mailing.note === "reissued" ? ` · ${t("mail.note_reissued")}` : ""),
    bar, summary,
    failures.length ? h("table", { class: "table", id: "mail-failures" },
      h("thead", {}, h("tr", {}, ["ticket.code", "ticket.holder_name", "ticket.holder_email", "mail.reason", "mail.reply"].map((k) => h("th", {}, t(k))), h("th"))),
      h("tbody", {}, failures.map((d) => h("tr", { dataset: { ticket: String(d.ticket) } },
        h("td", { class: "code" }, d.code),
        h("td", {}, d.holder_name),
        h("td", { class: "muted" }, d.holder_email),
        h("td", {}, h("span", { class: "pill revoked" }, t(`mail.error.${d.error}`))),
        h("td", { class: "muted small-text" }, d.smtp_reply || "—"),
        h("td", { class: "actions" }, h("button", { type: "button", class: "small resend", onclick: () => resend(d) }, t("mail.resend")))))))
      : null);
}

function historyTable(mailings, event, follow) {
  if (!mailings.length) return h("p", { class: "empty muted" }, t("mail.none"));
  return h("table", { class: "table" },
    h("thead", {}, h("tr", {}, ["mail.when", "mail.sent", "mail.failed", "mail.total"].map((k) => h("th", {}, t(k))), h("th"))),
    h("tbody", {}, mailings.map((m) => h("tr", { dataset: { mailing: String(m.id) } },
      h("td", {}, formatInZone(m.created_at, event.timezone, language())),
      h("td", {}, String(m.counts.sent)),
      h("td", {}, String(m.counts.failed)),
      h("td", {}, String(m.total)),
      h("td", { class: "actions" }, h("button", { type: "button", class: "small", onclick: () => follow(m.id) }, t("mail.show")))))));
}
