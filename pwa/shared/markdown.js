// The Markdown of emergency plans (应急预案), as the console documents it:
// headings (# to ####), numbered and bulleted lists, quotes (> …, which may
// hold lists and paragraphs), paragraphs, **bold**, *italic* and `code`.
// Anything else is shown as the text it is. Built as DOM nodes, never as
// HTML text, so a plan cannot inject markup or script: the console's
// preview, the command centre and the phones all render it here.

function node(tag, ...children) {
  const el = document.createElement(tag);
  for (const child of children.flat()) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

const INLINE = /(\*\*[^*\n]+\*\*|`[^`\n]+`|\*[^*\s][^*\n]*\*)/g;

/** **bold**, *italic* and `code` in one line; everything else plain text. */
function inline(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) out.push(text.slice(last, match.index));
    const token = match[0];
    if (token.startsWith("**")) out.push(node("strong", token.slice(2, -2)));
    else if (token.startsWith("`")) out.push(node("code", token.slice(1, -1)));
    else out.push(node("em", token.slice(1, -1)));
    last = match.index + token.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function blocks(lines, depth) {
  const out = [];
  let list = null;
  let paragraph = null;
  let quote = null;
  const flushQuote = () => {
    if (quote) out.push(node("blockquote", blocks(quote, depth + 1)));
    quote = null;
  };
  for (const raw of lines) {
    const line = raw.replace(/\s+$/, "");
    const quoted = /^\s*>\s?(.*)$/.exec(line);
    if (quoted && depth < 4) {
      list = paragraph = null;
      (quote = quote || []).push(quoted[1]);
      continue;
    }
    flushQuote();
    const heading = /^\s*(#{1,4})\s+(.*)$/.exec(line);
    const ordered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    if (!line.trim()) {
      list = paragraph = null;
    } else if (heading) {
      list = paragraph = null;
      out.push(node(`h${Math.min(heading[1].length + 2, 6)}`, inline(heading[2])));
    } else if (ordered || bullet) {
      paragraph = null;
      const tag = ordered ? "ol" : "ul";
      if (!list || list.tagName.toLowerCase() !== tag) {
        list = node(tag);
        out.push(list);
      }
      list.append(node("li", inline((ordered || bullet)[1])));
    } else if (paragraph) {
      paragraph.append(" ", ...inline(line.trim()));
    } else {
      list = null;
      paragraph = node("p", inline(line.trim()));
      out.push(paragraph);
    }
  }
  flushQuote();
  return out;
}

/** Markdown text → a <div class="markdown"> of DOM nodes. */
export function renderMarkdown(text) {
  const root = node("div", blocks(String(text ?? "").split(/\r\n?|\n/), 0));
  root.className = "markdown";
  return root;
}
