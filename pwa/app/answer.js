// The words of the full-screen answer: what a steward acts on, in one
// language. A pure function of the answer and the phone's names for zones
// and gates, so the same scan reads the same online and offline:
//
//   ✓ In / ✕ Refused
//   why:    already inside Hall A since 10:02 (North door) · Hall A is full ·
//           not in Hall A yet (an inner door before its hall) · not inside VIP: cannot exit
//   who:    the holder's name
//   detail: ticket type · printed code
//   note:   "Decided offline" when the phone answered on its own

/**
 * @param {object} answer {ok, reason, reasonText?, direction, who: {name, type, code},
 *   zone (where the holder is), entering, leaving (zone ids of the move), since: {at, gate}, offline}
 * @param {(key: string, params?: object) => string} t
 * @param {{zone: (id) => string, gate: (id) => string, time: (iso) => string}} names
 */
export function describe(answer, t, names) {
  const word = answer.ok ? t(answer.direction === "out" ? "scan.ok.out" : "scan.ok.in") : t("scan.refused");
  const why = answer.ok ? "" : answer.reasonText || reasonLine(answer, t, names);
  const who = answer.who || {};
  const detail = [who.type, who.code].filter(Boolean).join(" · ");
  return { word, why, who: who.name || "", detail, note: answer.offline ? t("scan.offline_answer") : "" };
}

function reasonLine(answer, t, names) {
  const zone = (id) => (id === null || id === undefined ? "" : names.zone(id));
  switch (answer.reason) {
    case "already_inside": {
      const where = zone(answer.zone);
      const since = answer.since || {};
      const time = since.at ? names.time(since.at) : "";
      const gate = since.gate !== null && since.gate !== undefined ? names.gate(since.gate) : "";
      if (where && time && gate) return t("reason.already_inside.since_gate", { zone: where, time, gate });
      if (where && time) return t("reason.already_inside.since", { zone: where, time });
      if (where) return t("reason.already_inside.zone", { zone: where });
      return t("reason.already_inside");
    }
    case "not_inside": {
      const left = zone(answer.leaving);
      if (!left) return t("reason.not_inside");
      return t(answer.direction === "in" ? "reason.not_inside.in" : "reason.not_inside.out", { zone: left });
    }
    case "zone_full":
    case "wrong_zone": {
      const into = zone(answer.entering);
      return into ? t(`reason.${answer.reason}.zone`, { zone: into, type: answer.who?.type || "" }) : t(`reason.${answer.reason}`);
    }
    default:
      return t(`reason.${answer.reason}`);
  }
}
