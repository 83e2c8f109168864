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

/** "ok", "near" (at or past the soft warning level) or "full"; "none" without a capacity. */
export function zoneLevel(inside, capacity, softWarning = 0.9) {
  if (capacity === null || capacity === undefined) return "none";
  if (inside >= capacity) return "full";
  if (inside >= Math.ceil(capacity * softWarning)) return "near";
  return "ok";
}

/**
 * Arrivals per minute as a list of {at, count}, oldest first. The headcount
 * answer may carry bare counts (the last one is the current minute) or
 * objects with a minute and a count.
 */
export function arrivalsSeries(raw, now = new Date()) {
  let list = raw;
  if (list && !Array.isArray(list) && typeof list === "object") {
    const start = time(list.start || list.from);
    const counts = list.counts || list.per_minute || [];
    return counts.map((count, i) => ({
      at: start ? new Date(start.getTime() + i * 60000) : null,
      count: number(count),
    }));
  }
  if (!Array.isArray(list)) return [];
  const minute = new Date(Math.floor(now.getTime() / 60000) * 60000);
  return list.map((item, i) => {
    if (typeof item === "number") {
      return { at: new Date(minute.getTime() - (list.length - 1 - i) * 60000), count: item };
    }
    return {
      at: time(item.minute ?? item.at ?? item.start ?? item.time),
      count: number(item.count ?? item.arrivals ?? item.n ?? item.value),
    };
  });
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
      const softWarning = number(z.soft_warning, 0.9);
      const inside = number(z.inside);
      return { id: z.id, name: z.name, inside, capacity, softWarning, level: zoneLevel(inside, capacity, softWarning) };
    }),
    gates: (d.gates || []).map((g) => ({ id: g.id, name: g.name, in: number(g.in), out: number(g.out) })),
    arrivals: arrivalsSeries(d.arrivals_per_minute ?? d.arrivals ?? d.arrivals_last_hour),
  };
}

function deviceView(d) {
  const status = d.status || (d.online === true ? "online" : d.online === false ? "offline" : null);
  return {
    id: d.id ?? d.device_id ?? d.account_id,
    name: d.name || d.device_name || `#${d.id ?? d.device_id ?? "?"}`,
    online: status === "online",
    lastSeen: time(d.last_seen_at ?? d.last_seen),
    backlog: maybeNumber(d.queue_length ?? d.offline_queue ?? d.backlog ?? d.queued),
    scansPerMinute: maybeNumber(d.scans_per_minute ?? d.scans_a_minute ?? d.rate),
  };
}

/** Gates from the headcount (counts) merged with the gates topic (devices). */
export function gatesView(headcount, gatesData) {
  const byId = new Map();
  for (const g of headcount ? headcount.gates : []) {
    byId.set(String(g.id), { id: g.id, name: g.name, in: g.in, out: g.out, devices: [] });
  }
  const listed = gatesData ? gatesData.gates || gatesData.items || [] : [];
  for (const g of listed) {
    const key = String(g.id ?? g.gate_id);
    const gate = byId.get(key) || { id: g.id ?? g.gate_id, name: g.name, in: null, out: null, devices: [] };
    gate.name = g.name || gate.name;
    gate.devices = (g.devices || []).map(deviceView);
    byId.set(key, gate);
  }
  const gates = [...byId.values()];
  for (const gate of gates) gate.offline = gate.devices.some((d) => !d.online);
  // A gate with a door that went offline comes first: it is what needs a person.
  gates.sort((a, b) => Number(b.offline) - Number(a.offline) || String(a.name).localeCompare(String(b.name)));
  return gates;
}

/** "critical", "low" or "ok" — mirrors the server's low-stock check (server/stock.py). */
export function stockLevel(quantity, low, critical) {
  if (critical !== null && critical !== undefined && quantity <= critical) return "critical";
  if (low !== null && low !== undefined && quantity <= low) return "low";
  return "ok";
}

export function stockView(data) {
  const items = (data && (data.items || data.stock)) || [];
  const rank = { critical: 0, low: 1, ok: 2 };
  return items
    .map((item) => {
      const quantity = number(item.quantity ?? item.on_hand);
      const low = maybeNumber(item.low_threshold ?? item.low);
      const critical = maybeNumber(item.critical_threshold ?? item.critical);
      const level = item.level && item.level in rank ? item.level : stockLevel(quantity, low, critical);
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

export function incidentView(raw, names = {}) {
  const i = raw || {};
  const zone = i.zone_id ?? i.zone;
  const gate = i.gate_id ?? i.gate;
  const location =
    (typeof i.location === "string" && i.location) ||
    i.location_text ||
    i.zone_name ||
    i.gate_name ||
    (gate !== null && gate !== undefined && names.gates && names.gates.get(String(gate))) ||
    (zone !== null && zone !== undefined && names.zones && names.zones.get(String(zone))) ||
    (i.location && typeof i.location === "object" && (i.location.name || i.location.text)) ||
    "";
  const assignee = i.assignee_name ?? (i.assignee && typeof i.assignee === "object" ? i.assignee.name : i.assignee) ?? i.assigned_to ?? null;
  return {
    id: i.id,
    title: i.title || "",
    description: i.description || "",
    category: i.category || "other",
    severity: String(i.severity || "P4").toUpperCase(),
    status: i.status || "open",
    location,
    equipment: i.equipment_tag || i.equipment || "",
    createdAt: time(i.created_at ?? i.reported_at),
    acknowledgedAt: time(i.acknowledged_at),
    resolvedAt: time(i.resolved_at),
    assignee: assignee === null || assignee === "" ? null : String(assignee),
    escalated: Boolean(i.escalated || i.escalated_at || i.escalation_level),
    reports: number(i.report_count ?? i.reports, 1),
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
    message: a.message || "",
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
 * id). A snapshot carries the whole list and replaces it; an update carries
 * one item (``{"action", "incident"}`` or ``{"action", "alert"}``). Returns
 * false when a snapshot had no list, so the caller fetches it over REST.
 */
export function applyStream(items, message, key) {
  const data = message.data || {};
  const plural = key + "s";
  if (message.type === "snapshot") {
    if (!Array.isArray(data[plural]) && !Array.isArray(data.items)) return false;
    items.clear();
    for (const item of data[plural] || data.items) items.set(String(item.id), item);
    return true;
  }
  const listed = Array.isArray(data[plural]) ? data[plural] : [data[key] || data.item || (data.id !== undefined ? data : null)];
  for (const item of listed) {
    if (item && item.id !== undefined) items.set(String(item.id), { ...(items.get(String(item.id)) || {}), ...item });
  }
  return true;
}
