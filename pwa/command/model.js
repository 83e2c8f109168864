// What the page shows, as plain data: the topics' messages folded into one
// picture of the venue, and the small decisions the panels make (is a zone
// near full, is stock low, which incidents come first). No DOM here.

const RECENTLY_RESOLVED_MS = 2 * 60 * 60 * 1000;
const RESOLVED_SHOWN = 12;
const ALERTS_KEPT = 200;
const SEVERITY_RANK = { P1: 1, P2: 2, P3: 3, P4: 4 };

function number(value, fallback = 0) {
  const n = typeof value === "string" ? Number(value) : value;
  return typeof n === "number" && Number.isFinite(n) ? n : fallback;
}

function maybeNumber(value) {
  return value === null || value === undefined || value === "" ? null : number(value, null);
}

function time(value) {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** Arrivals per minute (``[{minute, count}]``, oldest first) as {at, count}. */
/** {"start", "counts": [n per minute]} (server/features/headcount.py) → [{at, count}]. */
export function arrivalsSeries(raw) {
  const start = time(raw?.start);
  if (!start || !Array.isArray(raw.counts)) return [];
  return raw.counts.map((count, i) => ({ at: new Date(start.getTime() + i * 60_000), count: number(count) }));
}

export function headcountView(data) {
  const d = data || {};
  const expected = maybeNumber(d.expected);
  const checkedIn = number(d.checked_in);
  return {
    inside: number(d.inside),
    checkedIn,
    expected,
    notYetArrived: maybeNumber(d.not_yet_arrived) ?? (expected === null ? null : Math.max(0, expected - checkedIn)),
    zones: (d.zones || []).map((z) => {
      const capacity = maybeNumber(z.capacity);
      // The level is the server's decision (zone_level in server/features/headcount.py).
      const level = capacity === null ? "none" : z.level === "near_full" ? "near" : z.level || "ok";
      return { id: z.id, name: z.name, inside: number(z.inside), capacity, softWarning: number(z.soft_warning, 0.9), level };
    }),
    gates: (d.gates || []).map((g) => ({ id: g.id, name: g.name, in: number(g.in), out: number(g.out) })),
    arrivals: arrivalsSeries(d.arrivals_per_minute),
  };
}

function deviceView(d) {
  return {
    id: d.id,
    name: d.name || `#${d.id}`,
    gate: d.gate ?? null,
    online: Boolean(d.online),
    lastSeen: time(d.last_seen),
    backlog: maybeNumber(d.queue),
    scansPerMinute: maybeNumber(d.scans_per_minute),
  };
}

/**
 * Gates with their door devices, from the headcount (in/out counts) and the
 * gates topic (realtime/gates.py: ``{"gates": [{…, "devices": [ids],
 * "scans_per_minute"}], "devices": [{id, name, gate, online, last_seen,
 * queue, scans_per_minute}]}``). Door devices bound to no gate are listed
 * under a gate of their own (id null) so an offline one is still seen.
 */
export function gatesView(headcount, gatesData) {
  const byId = new Map();
  const gateOf = (id, name) => {
    const key = String(id);
    if (!byId.has(key)) byId.set(key, { id, name, in: null, out: null, scansPerMinute: null, devices: [] });
    const gate = byId.get(key);
    if (name) gate.name = name;
    return gate;
  };
  for (const g of headcount ? headcount.gates : []) Object.assign(gateOf(g.id, g.name), { in: g.in, out: g.out });
  const data = gatesData || {};
  for (const g of data.gates || []) {
    const gate = gateOf(g.id, g.name);
    if (g.in !== undefined) Object.assign(gate, { in: number(g.in), out: number(g.out) });
    gate.scansPerMinute = maybeNumber(g.scans_per_minute);
  }
  for (const raw of data.devices || []) {
    const device = deviceView(raw);
    const gate = device.gate === null ? gateOf(null, null) : gateOf(device.gate, null);
    gate.devices.push(device);
  }
  const gates = [...byId.values()].filter((g) => g.id !== null || g.devices.length);
  for (const gate of gates) gate.offline = gate.devices.some((d) => !d.online);
  // A gate with a door that went offline comes first: it is what needs a person.
  gates.sort(
    (a, b) =>
      Number(b.offline) - Number(a.offline) ||
      Number(a.id === null) - Number(b.id === null) ||
      String(a.name).localeCompare(String(b.name)),
  );
  return gates;
}

export function stockView(data) {
  const items = (data && data.items) || [];
  const rank = { critical: 0, low: 1, ok: 2 };
  return items
    .map((item) => {
      const quantity = number(item.quantity);
      const low = maybeNumber(item.low_threshold);
      const critical = maybeNumber(item.critical_threshold);
      // The level is the server's decision (stock_level in server/features/stock_rules.py).
      const level = item.level in rank ? item.level : "ok";
      return { id: item.id, name: item.name, unit: item.unit || "", location: item.location || "", quantity, low, critical, level };
    })
    .sort((a, b) => {
      if (rank[a.level] !== rank[b.level]) return rank[a.level] - rank[b.level];
      // Among equals, the one closest to (or furthest past) its threshold first.
      const ra = a.low ? a.quantity / a.low : Infinity;
      const rb = b.low ? b.quantity / b.low : Infinity;
      return ra - rb || String(a.name).localeCompare(String(b.name));
    });
}

/**
 * One incident as the board shows it (server/features/incidents.py incident_json):
 * the place named from the zones and gates the headcount lists.
 */
export function incidentView(raw, names = {}) {
  const i = raw || {};
  const place = i.location && typeof i.location === "object" ? i.location : { text: i.location };
  const zone = place.zone ?? i.zone_id;
  const gate = place.gate ?? i.gate_id;
  const named = (map, id) => (id !== null && id !== undefined && map ? map.get(String(id)) : null);
  const location = [named(names.gates, gate), named(names.zones, zone), place.text].filter(Boolean).join(" · ");
  const assignee = i.assignee && typeof i.assignee === "object" ? i.assignee : i.assignee ? { name: String(i.assignee) } : null;
  return {
    id: i.id,
    title: i.title || "",
    description: i.description || "",
    category: i.category || "other",
    severity: String(i.severity || "P4").toUpperCase(),
    status: i.status || "open",
    location,
    equipment: i.equipment_tag || "",
    createdAt: time(i.created_at),
    acknowledgedAt: time(i.acknowledged_at),
    resolvedAt: time(i.resolved_at),
    assignee,
    team: i.team || null,
    reporter: i.reporter && typeof i.reporter === "object" ? i.reporter : null,
    escalated: number(i.escalation_level) > 0 || Boolean(i.escalated_at),
    reports: number(i.reports, 1),
    plan: i.plan || null,
  };
}

function byUrgency(a, b) {
  return (
    Number(b.escalated) - Number(a.escalated) ||
    (SEVERITY_RANK[a.severity] || 9) - (SEVERITY_RANK[b.severity] || 9) ||
    (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0)
  );
}

/** Incidents by status for the board: urgent first; only recently resolved ones. */
export function incidentBoard(incidents, now = new Date()) {
  const board = { open: [], acknowledged: [], resolved: [] };
  for (const incident of incidents) {
    if (incident.status === "resolved") {
      if (!incident.resolvedAt || now - incident.resolvedAt <= RECENTLY_RESOLVED_MS) board.resolved.push(incident);
    } else if (incident.status === "acknowledged") {
      board.acknowledged.push(incident);
    } else {
      board.open.push(incident);
    }
  }
  board.open.sort(byUrgency);
  board.acknowledged.sort(byUrgency);
  board.resolved.sort((a, b) => (b.resolvedAt?.getTime() ?? 0) - (a.resolvedAt?.getTime() ?? 0));
  board.resolved = board.resolved.slice(0, RESOLVED_SHOWN);
  return board;
}

export function alertView(raw) {
  const a = raw || {};
  return {
    id: a.id,
    kind: a.kind || "",
    severity: a.severity || "warning",
    data: a.data && typeof a.data === "object" ? a.data : {},
    createdAt: time(a.created_at),
    acknowledgedAt: time(a.acknowledged_at),
  };
}

/** Unacknowledged first (newest first), then the acknowledged ones. */
export function alertFeed(alerts) {
  const list = [...alerts];
  list.sort(
    (a, b) =>
      Number(Boolean(a.acknowledgedAt)) - Number(Boolean(b.acknowledgedAt)) ||
      (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0) ||
      Number(b.id) - Number(a.id),
  );
  return list.slice(0, ALERTS_KEPT);
}

/**
 * Fold a stream-topic message (incidents or alerts) into ``items`` (a Map by
 * id). A snapshot carries the list (``{"incidents": […]}``, the unresolved
 * ones; ``{"alerts": […]}``, the unacknowledged ones) and replaces it; an
 * update carries one whole item (``{"action", "incident"}`` or ``{"action",
 * "alert"}``), so applying one twice is harmless.
 */
export function applyStream(items, message, key) {
  const data = message.data || {};
  if (message.type === "snapshot") {
    items.clear();
    for (const item of data[key + "s"] || []) items.set(String(item.id), item);
    return;
  }
  const item = data[key];
  if (item && item.id !== undefined) items.set(String(item.id), item);
}
