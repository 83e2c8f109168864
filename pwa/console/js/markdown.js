// Enough Markdown to preview an emergency plan as staff will read it:
// headings, numbered and bulleted lists, paragraphs, **bold** and `code`.
// Built as DOM nodes, never as HTML text, so a plan cannot inject markup.

import { h } from "./dom.js";

function inline(text) {
  const out = [];
  const pattern = /(\*\*[^*]+\*\*|`[^`]+`)/g;
  let last = 0;
  for (const m of text.matchAll(pattern)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    const token = m[0];
    out.push(token.startsWith("**") ? h("strong", {}, token.slice(2, -2)) : h("code", {}, token.slice(1, -1)));
    last = m.index + token.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** Markdown text → a DocumentFragment. */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  let list = null;
  let paragraph = null;
  for (const raw of String(text || "").split(/\r?\n/)) {
    const line = raw.trimEnd();
    const heading = /^(#{1,4})\s+(.*)$/.exec(line);
    const ordered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    if (!line.trim()) {
      list = null;
      paragraph = null;
    } else if (heading) {
      list = paragraph = null;
      fragment.append(h(`h${Math.min(heading[1].length + 2, 6)}`, {}, inline(heading[2])));
    } else if (ordered || bullet) {
      paragraph = null;
      const tag = ordered ? "ol" : "ul";
      if (!list || list.tagName.toLowerCase() !== tag) {
        list = h(tag);
        fragment.append(list);
      }
      list.append(h("li", {}, inline((ordered || bullet)[1])));
    } else if (paragraph) {
      paragraph.append(" ", ...inline(line.trim()));
    } else {
      list = null;
      paragraph = h("p", {}, inline(line.trim()));
      fragment.append(paragraph);
    }
  }
  return fragment;
}
