// The command centre's evacuation view: when the `evacuation` topic says one
// is running, the big screen switches to it — accounted / to account for /
// still missing in big numbers, the time since the alarm, every assembly
// point with its arrivals, and the missing list (last gate and time seen,
// contact data for organiser and command) — and back to the dashboard at
// the all-clear, leaving the report on screen. Drills are started here.
// Words in evacuation_strings.js; the server sends codes and figures only.

import { addStrings, language, t } from "../shared/i18n.js";
import { formatClock, formatDay, formatNumber, h } from "./dom.js";
import { EVACUATION_STRINGS } from "./evacuation_strings.js";

addStrings(EVACUATION_STRINGS);

const $ = (id) => document.getElementById(id);
/** The missing list is read again at most this often, however fast accounts come. */
const MISSING_EVERY_MS = 1000;
/** While one runs, the list is read again after this long anyway: a big screen never drifts for good. */
const MISSING_REFRESH_MS = 5000;
/** Rows drawn on the screen; printing draws them all. */
const MISSING_SHOWN = 300;


/** A time of the evacuation as the page's other clocks read it: in the event's zone (dom.js). */
function clockOf(iso) {
  return iso ? formatClock(new Date(iso)) : "";
}

/** The day of a drill, in the event's zone (YYYY-MM-DD). */
function dayOf(iso) {
  return iso ? formatDay(new Date(iso)) : "";
}

function elapsed(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(s / 3600);
  const clock = `${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  return hours ? `${hours}:${clock}` : clock;
}

function seconds(value) {
  return value === null || value === undefined ? t("cevac.report.not_reached") : elapsed(value);
}

export class CommandEvacuation {
  /** ``onFailure(error)`` shows a failed request; ``onSwitch()`` runs after the view changed. */
  constructor({ onFailure, onSwitch }) {
    this.onFailure = onFailure;
    this.onSwitch = onSwitch;
    this.#reset(null, null);
    $("evac-start").addEventListener("click", () => this.#ask($("evac-start-dialog"), () => this.start()));
    $("evac-clear").addEventListener("click", () => this.#ask($("evac-clear-dialog"), () => this.allClear()));
    $("evac-print").addEventListener("click", () => this.print());
    $("evac-report-print").addEventListener("click", () => this.print());
    $("evac-report-csv").addEventListener("click", () => this.#csv());
    setInterval(() => this.#tick(), 1000);
    window.addEventListener("languagechange-muster", () => this.render());
  }

  #reset(api, event) {
    Object.assign(this, { api, event, mayAct: false, current: null, missing: [], missingFor: null, report: null, fetching: null, missingAt: 0 });
  }

  open(api, event) {
    this.#reset(api, event);
    this.render();
  }

  close() {
    this.#reset(null, null);
    this.render();
  }

  /** Whether this token may start and end one (organiser, command: the welcome says). */
  allow(mayAct) {
    this.mayAct = mayAct;
    this.render();
  }

  /** The `evacuation` topic (the whole state each time). */
  receive(data) {
    const was = this.current;
    this.current = data.active ? data.evacuation : null;
    if (this.current) {
      if (this.missingFor !== this.current.id) this.missing = [];
      this.#fetchMissing();
    }
    if (was && !this.current) this.#fetchReport(was.id);
    this.render();
    if (Boolean(was) !== Boolean(this.current)) this.onSwitch();
  }

  async start() {
    const message = $("evac-message-input").value.trim();
    try {
      await this.api.post(`/api/v1/events/${this.event.id}/evacuations`, { kind: "drill", message });
    } catch (error) {
      this.onFailure(error);
    }
  }

  async allClear() {
    if (!this.current) return;
    try {
      await this.api.post(`/api/v1/evacuations/${this.current.id}/all-clear`, {});
    } catch (error) {
      this.onFailure(error);
    }
  }

  /** The whole missing list on paper (light, no buttons), then the screen as it was. */
  print() {
    this.#renderMissing(Infinity);
    document.body.classList.add("printing-evacuation");
    window.print();
    document.body.classList.remove("printing-evacuation");
    this.#renderMissing(MISSING_SHOWN);
  }

  #ask(dialog, onConfirm) {
    dialog.querySelector("form").reset();
    dialog.returnValue = "";
    dialog.onclose = () => {
      if (dialog.returnValue === "ok") onConfirm();
    };
    dialog.showModal();
  }

  #fetchMissing() {
    if (this.fetching) return;
    const wait = Math.max(0, this.missingAt + MISSING_EVERY_MS - Date.now());
    this.fetching = setTimeout(async () => {
      const id = this.current && this.current.id;
      try {
        if (!id) return;
        this.missingAt = Date.now();
        const answer = await this.api.get(`/api/v1/evacuations/${id}/missing`);
        if (!this.current || this.current.id !== id) return;
        this.missing = answer.people;
        this.missingFor = id;
        this.#renderMissing(MISSING_SHOWN);
      } catch (error) {
        this.onFailure(error);
      } finally {
        this.fetching = null;
      }
      // Accounts that came while it was read: read once more.
      if (this.current && this.current.missing !== this.missing.length) this.#fetchMissing();
      else this.#refreshLater();
    }, wait);
  }

  #refreshLater() {
    clearTimeout(this.refreshing);
    this.refreshing = setTimeout(() => {
      if (this.current) this.#fetchMissing();
    }, MISSING_REFRESH_MS);
  }

  async #fetchReport(id) {
    try {
      const [report, missing] = await Promise.all([
        this.api.get(`/api/v1/evacuations/${id}/report`),
        this.api.get(`/api/v1/evacuations/${id}/missing`),
      ]);
      Object.assign(this, { report, missing: missing.people, missingFor: id });
    } catch (error) {
      this.onFailure(error);
      return;
    }
    this.#renderReport();
    const dialog = $("evac-report");
    if (!dialog.open) dialog.showModal();
  }

  #tick() {
    if (!this.current) return;
    $("evac-elapsed").textContent = elapsed((Date.now() - Date.parse(this.current.started_at)) / 1000);
  }

  render() {
    const evac = this.current;
    document.body.classList.toggle("evacuating", Boolean(evac));
    $("evac-view").classList.toggle("hidden", !evac);
    if (this.event) $("dashboard").classList.toggle("hidden", Boolean(evac));
    $("evac-start").classList.toggle("hidden", !this.event || !this.mayAct || Boolean(evac));
    $("evac-clear").classList.toggle("hidden", !this.mayAct);
    if (this.report) this.#renderReport();
    if (!evac) return;
    $("evac-view").dataset.kind = evac.kind;
    $("evac-title").textContent = t(`cevac.title.${evac.kind}`);
    $("evac-text").textContent = evac.message;
    $("evac-accounted").textContent = formatNumber(evac.accounted);
    $("evac-total").textContent = formatNumber(evac.total);
    $("evac-missing").textContent = formatNumber(evac.missing);
    $("evac-missing-box").classList.toggle("none", evac.missing === 0);
    const share = evac.total ? evac.accounted / evac.total : 1;
    $("evac-meter").style.width = `${Math.round(share * 100)}%`;
    $("evac-share").textContent = `${Math.floor(share * 100)}%`;
    $("evac-since").textContent = t("cevac.since", { time: clockOf(evac.started_at) });
    this.#tick();
    this.#renderPoints(evac);
    this.#renderZones(evac);
    this.#renderMissing(MISSING_SHOWN);
  }

  #renderPoints(evac) {
    const points = evac.points.map((p) =>
      h(
        "li",
        { class: "evac-point", dataset: { point: p.id } },
        h(
          "div",
          { class: "evac-point-head" },
          h("span", { class: "evac-point-name" }, p.name),
          h("strong", { class: "evac-point-count" }, formatNumber(p.accounted)),
        ),
        h(
          "div",
          { class: "evac-point-meta muted" },
          h("span", {}, p.map_note || ""),
          h("span", {}, t("cevac.per_minute", { n: p.per_minute.length ? p.per_minute[p.per_minute.length - 1] : 0 })),
        ),
      ),
    );
    if (evac.unplaced) {
      points.push(
        h(
          "li",
          { class: "evac-point unplaced" },
          h("div", { class: "evac-point-head" }, h("span", { class: "evac-point-name" }, t("cevac.unplaced")), h("strong", { class: "evac-point-count" }, formatNumber(evac.unplaced))),
        ),
      );
    }
    if (!points.length) points.push(h("li", { class: "muted" }, t("cevac.no_points")));
    $("evac-points").replaceChildren(...points);
  }

  #renderZones(evac) {
    $("evac-zones").replaceChildren(
      ...evac.zones.map((z) =>
        h(
          "li",
          { class: "evac-zone", dataset: { zone: z.id ?? "" } },
          h("span", { class: "evac-zone-name" }, z.name || t("cevac.no_zone")),
          h("span", { class: "evac-zone-count" }, t("cevac.zone_count", { accounted: formatNumber(z.accounted), total: formatNumber(z.total) })),
          z.missing ? h("span", { class: "badge bad" }, t("cevac.zone_missing", { n: formatNumber(z.missing) })) : null,
        ),
      ),
    );
  }

  #renderMissing(limit) {
    const people = this.missing;
    $("evac-missing-count").textContent = t("cevac.missing_list", { n: formatNumber(people.length) });
    const rows = people.slice(0, limit).map((p) =>
      h(
        "tr",
        { dataset: { person: p.id } },
        h("td", { class: "evac-person-name" }, p.name || "—"),
        h("td", {}, p.last_gate_name || "—"),
        h("td", { class: "num" }, p.last_seen_at ? clockOf(p.last_seen_at) : "—"),
        h("td", {}, t(`cevac.reason.${p.reason}`)),
        h("td", {}, [p.phone, p.email].filter(Boolean).join(" · ") || "—"),
      ),
    );
    if (people.length > limit) {
      rows.push(h("tr", { class: "evac-more" }, h("td", { colspan: 5 }, t("cevac.more", { n: formatNumber(people.length - limit) }))));
    }
    $("evac-missing-list").replaceChildren(...rows);
    $("evac-all-found").classList.toggle("hidden", people.length > 0 || !this.current || this.current.missing > 0);
  }

  #renderReport() {
    const r = this.report;
    $("evac-report-title").textContent = t(`cevac.report.title.${r.kind}`);
    const missing = this.missingFor === r.id ? this.missing : [];
    const parts = [
      h("p", { class: "muted" }, `${clockOf(r.started_at)} – ${clockOf(r.ended_at)}`),
      h(
        "div",
        { class: "evac-report-figures", id: "evac-report-figures" },
        h("div", {}, h("strong", {}, formatNumber(r.accounted)), h("span", {}, t("cevac.accounted"))),
        h("div", {}, h("strong", {}, formatNumber(r.total)), h("span", {}, t("cevac.total"))),
        h("div", { class: r.missing ? "bad" : "" }, h("strong", {}, formatNumber(r.missing)), h("span", {}, t("cevac.missing"))),
      ),
      h(
        "table",
        { class: "evac-report-times" },
        h("tr", {}, h("th", {}, t("cevac.report.to", { pct: 50 })), h("th", {}, t("cevac.report.to", { pct: 90 })), h("th", {}, t("cevac.report.to", { pct: 100 }))),
        h("tr", {}, ...["50", "90", "100"].map((k) => h("td", { class: "num" }, seconds(r.seconds_to[k])))),
      ),
      h("h3", {}, t("cevac.points")),
      h(
        "ul",
        { class: "evac-report-points" },
        ...r.points.map((p) =>
          h(
            "li",
            {},
            h("span", {}, p.name),
            h("strong", {}, formatNumber(p.accounted)),
            h("span", { class: "muted" }, p.seconds_to_last === null ? "" : t("cevac.report.last", { time: elapsed(p.seconds_to_last) })),
          ),
        ),
      ),
      missing.length
        ? h(
            "div",
            {},
            h("h3", {}, t("cevac.report.missing", { n: formatNumber(r.missing) })),
            h("ul", { class: "evac-report-missing" }, ...missing.map((p) => h("li", {}, p.name || "—"))),
          )
        : null,
      r.drills.length > 1
        ? h(
            "div",
            {},
            h("h3", {}, t("cevac.report.drills")),
            h(
              "table",
              { class: "evac-report-drills" },
              h("tr", {}, h("th", {}, t("cevac.report.drill_at")), h("th", {}, t("cevac.total")), h("th", {}, t("cevac.missing")), h("th", {}, t("cevac.report.to", { pct: 90 }))),
              ...r.drills.map((d) =>
                h(
                  "tr",
                  { class: d.id === r.id ? "current" : "" },
                  h("td", {}, `${dayOf(d.started_at)} ${clockOf(d.started_at)}`),
                  h("td", { class: "num" }, formatNumber(d.total)),
                  h("td", { class: "num" }, formatNumber(d.missing)),
                  h("td", { class: "num" }, seconds(d.seconds_to["90"])),
                ),
              ),
            ),
          )
        : null,
    ];
    $("evac-report-body").replaceChildren(...parts.filter(Boolean));
  }

  async #csv() {
    if (!this.report) return;
    try {
      const blob = await this.api.get(`/api/v1/evacuations/${this.report.id}/people.csv?lang=${language()}`);
      const link = h("a", { href: URL.createObjectURL(blob), download: `evacuation-${this.report.id}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
    } catch (error) {
      this.onFailure(error);
    }
  }
}
