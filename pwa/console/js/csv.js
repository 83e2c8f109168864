// CSV as the server reads it (server/features/issuance.py parse_csv, through Python's
// csv module): records keep the line number Python's reader reports for them
// (the line the record ends on), so the server's per-row errors can be
// matched back to the rows of the file the organiser dropped.

/** Parse `text` into [{cells: [...], line: n}], quoted fields and "" escapes included. */
export function parseCsv(text) {
  const records = [];
  let cells = [];
  let cell = "";
  let quoted = false;
  let newlines = 0;
  let i = 0;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  const endCell = () => { cells.push(cell); cell = ""; };
  const endRecord = (line) => { endCell(); records.push({ cells, line }); cells = []; };
  let started = false;
  for (; i < text.length; i++) {
    const c = text[i];
    started = true;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { cell += '"'; i++; } else quoted = false;
      } else {
        if (c === "\n") newlines++;
        cell += c;
      }
    } else if (c === '"' && cell === "") {
      quoted = true;
    } else if (c === ",") {
      endCell();
    } else if (c === "\r" && text[i + 1] === "\n") {
      // the \n ends the record on the next turn
    } else if (c === "\n") {
      newlines++;
      endRecord(newlines);
      started = false;
    } else {
      cell += c;
    }
  }
  if (started) endRecord(newlines + 1);
  return records.map((r) => (r.cells.length === 1 && r.cells[0] === "" ? { cells: [], line: r.line } : r));
}

function quote(value) {
  const text = value == null ? "" : String(value);
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Rows of cells → CSV text (CRLF line ends, as Excel writes them). */
export function toCsv(rows) {
  return rows.map((row) => row.map(quote).join(",")).join("\r\n") + "\r\n";
}

/**
 * The server's header names for each column (server/features/issuance.py
 * HEADER_ALIASES — keep the two in step): used to point at the cell a row
 * error names.
 */
export const HEADER_ALIASES = {
  holder_name: "holder_name", name: "holder_name", "姓名": "holder_name",
  holder_email: "holder_email", email: "holder_email", "邮箱": "holder_email", "电子邮件": "holder_email",
  ticket_type: "ticket_type", type: "ticket_type", "票种": "ticket_type",
};

/** Index of the column the server calls `field` in `header`, or -1. */
export function columnOf(header, field) {
  return header.findIndex((h) => HEADER_ALIASES[h.trim().replace(/^\ufeff/, "").toLowerCase()] === field);
}

/** Decode a dropped file: UTF-8, else GB18030 (Excel's default in Chinese locales), as the server does. */
export async function readCsvFile(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return new TextDecoder("gb18030").decode(bytes);
  }
}
