// Stock items and their thresholds: what the floor hands out (badges, gift
// bags, water, radios), where it is, and the levels at which the command
// centre is warned ("low") and alarmed ("critical"). Quantities change only
// through movements: here the organiser can book a delivery (receive).

import { t } from "../../shared/i18n.js";
import { ask, clear, errorText, h, onSubmit, toast } from "./dom.js";

function numberOrNull(value) {
  const text = String(value ?? "").trim();
  return text === "" ? null : Number(text);
}

function nonce() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

export async function showStock(view) {
  const { api, event } = view;
  const base = `/api/v1/events/${event.id}/stock`;
  const { items } = await api.get(`${base}/items`);
  if (view.stale()) return;
  const refresh = () => view.reload();

  function itemRow(item) {
    const form = h("form", { class: item ? "item" : "item new", dataset: item ? { item: String(item.id) } : {} },
      h("input", { name: "name", required: true, maxlength: 200, value: item ? item.name : "", placeholder: t("stock.name_placeholder"), "aria-label": t("stock.name") }),
      h("input", { name: "location", maxlength: 200, value: item ? item.location : "", placeholder: t("stock.location_placeholder"), "aria-label": t("stock.location") }),
      h("input", { name: "unit", maxlength: 32, value: item ? item.unit : "", placeholder: t("stock.unit_placeholder"), "aria-label": t("stock.unit") }),
      item
        ? h("div", { class: "qty" }, h("strong", {}, String(item.quantity)), " ", h("span", { class: `pill ${item.level}` }, t(`level.${item.level}`)))
        : h("input", { name: "quantity", type: "number", min: 0, step: 1, value: "0", "aria-label": t("stock.quantity") }),
      h("input", { name: "low_threshold", type: "number", min: 0, step: 1, value: item && item.low_threshold != null ? String(item.low_threshold) : "", placeholder: "—", "aria-label": t("stock.low") }),
      h("input", { name: "critical_threshold", type: "number", min: 0, step: 1, value: item && item.critical_threshold != null ? String(item.critical_threshold) : "", placeholder: "—", "aria-label": t("stock.critical") }),
      h("div", { class: "buttons" },
        h("button", { type: "submit", class: item ? "" : "primary" }, t(item ? "action.save" : "action.add")),
        item ? h("button", { type: "button", onclick: () => receive(item) }, t("stock.receive")) : null));
    onSubmit(form, async (data) => {
      const body = {
        name: String(data.get("name")).trim(),
        location: String(data.get("location") || "").trim(),
        unit: String(data.get("unit") || "").trim(),
        low_threshold: numberOrNull(data.get("low_threshold")),
        critical_threshold: numberOrNull(data.get("critical_threshold")),
      };
      if (item) {
        await api.patch(`${base}/items/${item.id}`, body);
      } else {
        body.quantity = numberOrNull(data.get("quantity")) ?? 0;
        await api.post(`${base}/items`, body);
      }
      toast(t(item ? "saved" : "stock.added", { name: body.name }));
      refresh();
    });
    return form;
  }

  async function receive(item) {
    const answer = await ask({ title: t("stock.receive_title", { name: item.name }), inputLabel: t("stock.receive_qty"), confirmLabel: t("stock.receive") });
    if (answer === null) return;
    const quantity = Number.parseInt(answer, 10);
    if (!(quantity > 0)) return toast(t("stock.bad_qty"), "bad");
    try {
      await api.post(`${base}/movements`, { kind: "receive", item: item.id, quantity, reason: t("stock.receive_reason"), nonce: nonce() });
      toast(t("stock.received", { n: quantity, name: item.name }));
      refresh();
    } catch (err) {
      toast(errorText(err), "bad");
    }
  }

  clear(view.main,
    h("div", { class: "page-head" }, h("h1", {}, t("nav.stock")), h("p", { class: "muted" }, t("stock.help"))),
    h("section", { class: "card", id: "stock" },
      h("div", { class: "rows stock-rows" },
        h("div", { class: "row-head" }, ["stock.name", "stock.location", "stock.unit", "stock.quantity", "stock.low", "stock.critical"].map((k) => h("span", {}, t(k))), h("span")),
        items.map(itemRow),
        itemRow(null))));
}
