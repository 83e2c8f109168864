// Importing attendees from a CSV file: drop it (or pick it), watch the
// upload progress, and when the server refuses rows (an import is all or
// nothing: one bad row and nothing is written), fix them right here and
// upload again, or download the bad rows to fix in a spreadsheet.

import { ApiError } from "../../shared/api.js";
import { rowProblem } from "../../shared/codes.js";
import { t } from "../../shared/i18n.js";
import { clear, download, errorText, h } from "./dom.js";
import { columnOf, parseCsv, readCsvFile, toCsv } from "./csv.js";
import { storedToken } from "./session.js";

/** POST a CSV body with upload progress (fetch cannot report it; XMLHttpRequest can). */
export function uploadCsv(url, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("Authorization", `Bearer ${storedToken()}`);
    xhr.setRequestHeader("Content-Type", "text/csv");
    xhr.responseType = "json";
    xhr.timeout = 15 * 60 * 1000;
    xhr.upload.addEventListener("progress", (e) => onProgress("upload", e.loaded, e.lengthComputable ? e.total : 0));
    xhr.upload.addEventListener("load", () => onProgress("server", 0, 0));
    xhr.addEventListener("load", () => {
      const data = xhr.response;
      if (xhr.status >= 200 && xhr.status < 300) return resolve(data);
      const err = (data && data.error) || {};
      reject(new ApiError(xhr.status, err.code || "http_error", err.message || xhr.statusText, err.details));
    });
    xhr.addEventListener("error", () => reject(new TypeError("network")));
    xhr.addEventListener("timeout", () => reject(Object.assign(new Error("timeout"), { name: "AbortError" })));
    xhr.send(blob);
  });
}

/**
 * The import card. `onImported(result)` runs after a successful import with
 * the server's answer ({tickets, count}).
 */
export function importCard(view, onImported) {
  const url = `/api/v1/events/${view.event.id}/tickets`;
  const picker = h("input", { type: "file", accept: ".csv,text/csv", id: "csv-file", class: "visually-hidden" });
  const zone = h("div", { class: "dropzone", id: "dropzone", tabindex: 0, role: "button", "aria-describedby": "csv-help" },
    h("strong", {}, t("import.drop")),
    h("span", { class: "muted" }, t("import.or")),
    h("label", { for: "csv-file", class: "button-like" }, t("import.choose")),
    picker);
  const status = h("div", { class: "import-status", id: "import-status", "aria-live": "polite" });
  const card = h("section", { class: "card", id: "import" },
    h("h2", {}, t("import.title")),
    h("p", { class: "muted", id: "csv-help" }, t("import.help"), " ",
      h("a", { href: "#", onclick: (e) => { e.preventDefault(); downloadTemplate(); } }, t("import.template"))),
    zone, status);

  const start = (file) => runImport(file, file.name).catch(() => {});
  picker.addEventListener("change", () => { if (picker.files[0]) start(picker.files[0]); picker.value = ""; });
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); picker.click(); } });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) zone.addEventListener(type, () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) start(file);
  });

  async function runImport(blob, name, existing = "refuse") {
    const bar = h("progress", { max: 100, value: 0, id: "import-progress" });
    const label = h("span", { class: "muted" }, t("import.uploading", { name }));
    clear(status, h("div", { class: "progress-line" }, label, bar));
    zone.classList.add("busy");
    try {
      const result = await uploadCsv(`${url}?existing_emails=${existing}`, blob, (stage, loaded, total) => {
        if (stage === "upload" && total) {
          bar.value = Math.round((100 * loaded) / total);
          label.textContent = t("import.uploading_pct", { name, pct: bar.value });
        } else if (stage === "server") {
          bar.removeAttribute("value"); // indeterminate: the server is checking and signing
          label.textContent = t("import.processing");
        }
      });
      clear(status, h("div", { class: "result ok", id: "import-ok" }, t("import.done", { n: result.count }),
        result.skipped_count ? h("span", { id: "import-skipped" }, " ", t("import.skipped", { n: result.skipped_count })) : null));
      onImported(result);
    } catch (err) {
      if (err.code === "emails_hold_tickets") {
        askAboutExisting(err.details || {}, blob, name);
        throw err;
      }
      const text = blob instanceof File ? await readCsvFile(blob) : await blob.text();
      showFailure(err, text, name);
      throw err;
    } finally {
      zone.classList.remove("busy");
    }
  }

  /** Rows whose email holds a ticket already: leave them out, or issue anyway. */
  function askAboutExisting(details, blob, name) {
    const rows = Array.isArray(details.rows) ? details.rows : [];
    const count = details.count || rows.length;
    clear(status, h("div", { class: "result warn", role: "alert", id: "import-existing" },
      h("strong", {}, t("import.existing", { n: count })),
      h("p", {}, t("import.existing_help")),
      h("ul", { class: "existing-rows" }, rows.slice(0, 8).map((r) => h("li", {}, t("import.existing_row", { line: r.line, email: r.email, code: r.code })))),
      count > 8 ? h("p", { class: "muted" }, t("import.existing_more", { n: count - 8 })) : null,
      h("div", { class: "buttons" },
        h("button", { type: "button", class: "primary", id: "import-skip-existing", onclick: () => runImport(blob, name, "skip").catch(() => {}) }, t("import.skip_existing", { n: count })),
        h("button", { type: "button", id: "import-issue-anyway", onclick: () => runImport(blob, name, "issue").catch(() => {}) }, t("import.issue_anyway")))));
  }

  function showFailure(err, text, name) {
    const details = err.details && typeof err.details === "object" ? err.details : {};
    const errors = Array.isArray(details.errors) ? details.errors : [];
    const head = h("div", { class: "result bad", role: "alert", id: "import-failed" },
      h("strong", {}, errors.length ? t("import.bad_rows", { n: details.error_count || errors.length }) : errorText(err)),
      errors.length ? h("p", {}, t("import.nothing_imported")) : null,
      Array.isArray(details.header) ? h("p", {}, t("import.header_was", { header: details.header.join(", ") })) : null);
    if (!errors.length) return clear(status, head);
    clear(status, head, errorReport(errors, details.error_count || errors.length, text, name));
  }

  function errorReport(errors, errorCount, text, name) {
    const records = parseCsv(text);
    const header = records.length ? records[0].cells : [];
    const byLine = new Map(records.map((r, i) => [r.line, i]));
    const problems = new Map();
    for (const e of errors) {
      if (!problems.has(e.line)) problems.set(e.line, []);
      problems.get(e.line).push(e);
    }
    const edits = new Map(); // record index -> cells, or null to leave the row out
    const table = h("table", { class: "table report", id: "import-errors" },
      h("thead", {}, h("tr", {}, h("th", {}, t("import.line")), header.map((c) => h("th", {}, c)), h("th", {}, t("import.problem")), h("th", {}, t("import.skip")))),
      h("tbody", {}, [...problems.entries()].map(([line, list]) => {
        const index = byLine.get(line);
        const record = index === undefined ? null : records[index];
        const cells = record ? [...record.cells] : [];
        if (record) edits.set(index, cells);
        const bad = new Set(list.map((e) => columnOf(header, e.field)));
        const width = Math.max(header.length, cells.length);
        return h("tr", { dataset: { line: String(line) } },
          h("td", { class: "num" }, line ?? "—"),
          Array.from({ length: width }, (_, c) => h("td", {},
            record ? h("input", {
              value: cells[c] ?? "", class: bad.has(c) ? "bad" : "", "aria-invalid": bad.has(c) ? "true" : false,
              dataset: { column: header[c] || String(c) },
              oninput: (e) => { cells[c] = e.target.value; },
            }) : "")),
          h("td", { class: "problem" }, list.map((e) => h("div", { dataset: { code: e.code || "" } }, rowProblem(e)))),
          h("td", {}, record ? h("input", { type: "checkbox", "aria-label": t("import.skip"), onchange: (e) => edits.set(index, e.target.checked ? null : cells) }) : ""));
      })));
    const more = errorCount > errors.length ? h("p", { class: "muted" }, t("import.more_errors", { shown: errors.length, n: errorCount })) : null;
    const reupload = h("button", { type: "button", class: "primary", id: "import-reupload" }, t("import.reupload"));
    reupload.addEventListener("click", () => {
      const rows = [];
      records.forEach((r, i) => {
        const cells = edits.has(i) ? edits.get(i) : r.cells;
        if (cells !== null && (i === 0 || cells.length)) rows.push(cells);
      });
      const fixed = new Blob(["\ufeff" + toCsv(rows)], { type: "text/csv" });
      runImport(fixed, fixedName(name)).catch(() => {});
    });
    const badRows = h("button", { type: "button", id: "import-download-bad" }, t("import.download_bad"));
    badRows.addEventListener("click", () => {
      const rows = [[...header, t("import.line"), t("import.problem")]];
      for (const [line, list] of problems) {
        const index = byLine.get(line);
        const cells = index === undefined ? [] : records[index].cells;
        rows.push([...Array.from({ length: header.length }, (_, c) => cells[c] ?? ""), line ?? "", list.map(rowProblem).join("; ")]);
      }
      download(new Blob(["\ufeff" + toCsv(rows)], { type: "text/csv" }), `bad-rows-${fixedName(name)}`);
    });
    return h("div", { class: "report-wrap" },
      h("p", {}, t("import.fix_help")), more,
      h("div", { class: "table-scroll" }, table),
      h("div", { class: "buttons" }, reupload, badRows));
  }

  return card;
}

function fixedName(name) {
  return /-fixed\.csv$/i.test(name) ? name : name.replace(/(\.csv)?$/i, "-fixed.csv");
}

function downloadTemplate() {
  const rows = [["姓名", "邮箱", "票种"], ["王伟", "wang.wei@example.com", ""], ["Li Na", "li.na@example.com", ""]];
  download(new Blob(["\ufeff" + toCsv(rows)], { type: "text/csv" }), "muster-attendees.csv");
}
