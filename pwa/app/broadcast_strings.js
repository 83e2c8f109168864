// The words of broadcasts and emergency plans on the staff phone (pwa/app/broadcasts.js,
// pwa/app/plans.js), in Simplified Chinese and English.

export const BROADCAST_STRINGS = {
  zh: {
    "bc.urgent": "紧急通知",
    "bc.ack": "已读，确认",
    "bc.dismiss": "知道了",
    "bc.sent_at": "{time} 发出",
    "bc.plan": "应急预案",
    "bc.more": "还有 {n} 条紧急通知待确认",
    "plans.mine": "应急预案（已确认 {done} / {n}）",
    "plans.confirm": "我已阅读",
    "plans.confirmed": "已确认",
  },
  en: {
    "bc.urgent": "Urgent message",
    "bc.ack": "Read, confirm",
    "bc.dismiss": "Got it",
    "bc.sent_at": "Sent at {time}",
    "bc.plan": "Emergency plan",
    "bc.more": "{n} more urgent messages to confirm",
    "plans.mine": "Emergency plans ({done} / {n} confirmed)",
    "plans.confirm": "I have read it",
    "plans.confirmed": "Confirmed",
  },
};
