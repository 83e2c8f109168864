// The venue as a flow of people: Outside → North door → Hall A → VIP door →
// VIP. Zones are laid out in columns by how many gates away from outside
// they are; each gate is an arrow from its zone (or outside) to the next.

import { h } from "./dom.js";

export const OUTSIDE = "outside";

/**
 * Columns of the flow, a pure function of zones and gates: column 0 is
 * outside, then each zone in the column of its shortest gate path from
 * outside. Zones no gate reaches go in a last column, flagged unreachable.
 */
export function layoutFlow(zones, gates) {
  const depth = new Map([[OUTSIDE, 0]]);
  const from = (g) => (g.from_zone == null ? OUTSIDE : g.from_zone);
  let frontier = [OUTSIDE];
  while (frontier.length) {
    const next = [];
    for (const node of frontier) {
      for (const gate of gates) {
        if (from(gate) === node && !depth.has(gate.to_zone)) {
          depth.set(gate.to_zone, depth.get(node) + 1);
          next.push(gate.to_zone);
        }
      }
    }
    frontier = next;
  }
  const deepest = Math.max(0, ...depth.values());
  const columns = Array.from({ length: deepest + 1 }, () => []);
  columns[0].push({ id: OUTSIDE, zone: null, reachable: true });
  const unreachable = [];
  for (const zone of zones) {
    if (depth.has(zone.id)) columns[depth.get(zone.id)].push({ id: zone.id, zone, reachable: true });
    else unreachable.push({ id: zone.id, zone, reachable: false });
  }
  if (unreachable.length) columns.push(unreachable);
  const edges = gates.map((gate) => ({ gate, from: from(gate), to: gate.to_zone }));
  return { columns, edges };
}

const BOX_W = 190;
const BOX_H = 64;
const COL_GAP = 150;
const ROW_GAP = 36;
const PAD = 20;

/** An SVG drawing of the flow; `labels` gives words for outside and capacity. */
export function renderFlow(zones, gates, labels) {
  const { columns, edges } = layoutFlow(zones, gates);
  const rows = Math.max(1, ...columns.map((c) => c.length));
  const width = PAD * 2 + columns.length * BOX_W + (columns.length - 1) * COL_GAP;
  const height = PAD * 2 + rows * BOX_H + (rows - 1) * ROW_GAP + 10;
  const place = new Map();
  columns.forEach((column, ci) => {
    const top = PAD + ((rows - column.length) * (BOX_H + ROW_GAP)) / 2;
    column.forEach((node, ri) => {
      place.set(node.id, { x: PAD + ci * (BOX_W + COL_GAP), y: top + ri * (BOX_H + ROW_GAP), node });
    });
  });
  const svg = h("svg", {
    class: "flow", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": labels.title,
  });
  svg.append(h("defs", {}, h("marker", {
    id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "8", markerHeight: "8", orient: "auto-start-reverse",
  }, h("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }))));
  // Parallel gates between the same two places fan out so their labels don't overlap.
  const seen = new Map();
  for (const edge of edges) {
    const a = place.get(edge.from);
    const b = place.get(edge.to);
    if (!a || !b) continue;
    const key = `${edge.from}>${edge.to}`;
    const nth = seen.get(key) || 0;
    seen.set(key, nth + 1);
    svg.append(edgePath(a, b, nth, edge.gate.name));
  }
  for (const { x, y, node } of place.values()) svg.append(nodeBox(x, y, node, labels));
  return svg;
}

function edgePath(a, b, nth, name) {
  const forward = b.x > a.x;
  const x1 = forward ? a.x + BOX_W : a.x + BOX_W / 2;
  const y1 = forward ? a.y + BOX_H / 2 : a.y + BOX_H;
  const x2 = forward ? b.x : b.x + BOX_W / 2;
  const y2 = forward ? b.y + BOX_H / 2 : b.y;
  const bend = nth * 26;
  const mx = (x1 + x2) / 2;
  const my = (y1 + y2) / 2 + bend;
  const d = forward
    ? `M${x1},${y1} C${mx},${y1 + bend} ${mx},${y2 + bend} ${x2},${y2}`
    : `M${x1},${y1} C${x1 + 60 + bend},${y1 + 40} ${x2 + 60 + bend},${y2 - 40} ${x2},${y2}`;
  return h("g", { class: "edge" },
    h("path", { d, "marker-end": "url(#arrow)" }),
    h("rect", { x: mx - 62, y: my - 13, width: 124, height: 22, rx: 11, class: "gate-label" }),
    h("text", { x: mx, y: my + 3, "text-anchor": "middle" }, truncate(name, 16)),
  );
}

function nodeBox(x, y, node, labels) {
  const outside = node.id === OUTSIDE;
  const cls = outside ? "node outside" : node.reachable ? "node" : "node unreachable";
  const title = outside ? labels.outside : node.zone.name;
  const sub = outside
    ? ""
    : node.reachable
      ? node.zone.capacity == null ? labels.noLimit : labels.capacity(node.zone.capacity)
      : labels.unreachable;
  return h("g", { class: cls, dataset: { node: String(node.id) } },
    h("rect", { x, y, width: BOX_W, height: BOX_H, rx: 12 }),
    h("text", { x: x + BOX_W / 2, y: y + (sub ? 27 : 38), "text-anchor": "middle", class: "name" }, truncate(title, 18)),
    sub ? h("text", { x: x + BOX_W / 2, y: y + 48, "text-anchor": "middle", class: "sub" }, sub) : null,
  );
}

function truncate(text, n) {
  return text.length > n ? text.slice(0, n - 1) + "…" : text;
}

/** The same flow as sentences, for screen readers and a quick read: "Outside → North door → Hall A". */
export function flowLines(zones, gates, outsideLabel) {
  const names = new Map(zones.map((z) => [z.id, z.name]));
  return gates.map((g) => `${g.from_zone == null ? outsideLabel : names.get(g.from_zone) ?? "?"} → ${g.name} → ${names.get(g.to_zone) ?? "?"}`);
}
