// Small DOM helpers for the console: build elements, show an API error next
// to the form that caused it, and keep a button busy while a request runs.

import { errorText, fieldLines, fieldName } from "../../shared/codes.js";
import { t } from "../../shared/i18n.js";

/**
 * Build an element: h("button", {class: "primary", onclick: save}, "Save").
 * Attributes starting with "on" become listeners; `dataset` and `style`
 * objects are merged; false/null/undefined attributes and children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = tag === "svg" || SVG_TAGS.has(tag)
    ? document.createElementNS("http://www.w3.org/2000/svg", tag)
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name === "style" && typeof value === "object") {
      Object.assign(el.style, value);
    } else if (name === "text") {
      el.textContent = value;
    } else if (name in el && !SVG_TAGS.has(tag) && tag !== "svg" && typeof value !== "string") {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

const SVG_TAGS = new Set(["g", "rect", "path", "text", "line", "marker", "defs", "polygon", "circle", "title"]);

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** An error in the page's language (server codes worded by shared/codes.js). */
export { errorText };

/**
 * Show `err` in the `.form-error` box of `form` (created if missing), right
 * beside the inputs that caused it, and mark fields the API names invalid.
 */
export function showError(form, err) {
  let box = form.querySelector(":scope > .form-error");
  if (!box) {
    box = h("div", { class: "form-error", role: "alert" });
    form.append(box);
  }
  const details = err && Array.isArray(err.details) ? err.details : [];
  const lines = fieldLines(details);
  clear(box, h("strong", {}, errorText(err)), lines.length ? h("ul", {}, lines.map((l) => h("li", {}, l))) : null);
  box.dataset.code = (err && err.code) || "";
  box.classList.remove("hidden");
  const fields = details.map(fieldName);
  if (err && err.field) fields.push(err.field);
  for (const name of fields) {
    const input = name && form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (input) input.setAttribute("aria-invalid", "true");
  }
}

export function clearError(form) {
  const box = form.querySelector(":scope > .form-error");
  if (box) box.classList.add("hidden");
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

/**
 * Run `action` for a form submit: prevents the default, disables the submit
 * button while it runs, and shows a failure beside the form.
 */
export function onSubmit(form, action) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = form.querySelector("button[type=submit], button:not([type])");
    clearError(form);
    if (button) button.disabled = true;
    try {
      await action(new FormData(form));
    } catch (err) {
      showError(form, err);
    } finally {
      if (button) button.disabled = false;
    }
  });
  return form;
}

/** A brief message at the bottom of the screen. */
export function toast(message, kind = "ok") {
  let host = document.getElementById("toasts");
  if (!host) {
    host = h("div", { id: "toasts", "aria-live": "polite" });
    document.body.append(host);
  }
  const note = h("div", { class: `toast ${kind}` }, message);
  host.append(note);
  while (host.children.length > 3) host.firstChild.remove();
  setTimeout(() => note.remove(), kind === "ok" ? 3000 : 6000);
}

/** A labelled field: h("label") with the text above the control. */
export function field(labelKey, control, hint) {
  return h("label", { class: "field" }, h("span", {}, t(labelKey)), control, hint ? h("small", { class: "muted" }, hint) : null);
}

/** Save a Blob as a file the browser downloads. */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Ask before a step that cannot be undone, in a modal <dialog>: resolves to
 * null when cancelled, else to the text typed (or "" when no input is asked).
 */
export function ask({ title, message, inputLabel = null, confirmLabel, danger = false }) {
  return new Promise((resolve) => {
    const input = inputLabel ? h("input", { name: "answer", maxlength: 200, autocomplete: "off" }) : null;
    const dialog = h("dialog", { class: "ask" },
      h("form", { method: "dialog" },
        h("h2", {}, title),
        message ? h("p", {}, message) : null,
        input ? h("label", { class: "field" }, h("span", {}, inputLabel), input) : null,
        h("div", { class: "buttons" },
          h("button", { value: "cancel", type: "submit", formnovalidate: true }, t("action.cancel")),
          h("button", { value: "ok", type: "submit", class: danger ? "danger" : "primary" }, confirmLabel))));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok" ? (input ? input.value.trim() : "") : null);
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    (input || dialog.querySelector("button.primary, button.danger")).focus();
  });
}
