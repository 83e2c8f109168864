// The staff app's words for time on duty (duty.js).

export const DUTY_STRINGS = {
  zh: {
    "duty.on": "在岗",
    "duty.off": "不在岗",
    "duty.start": "开始在岗",
    "duty.end": "结束在岗",
    "duty.waiting": "（联网后同步）",
    "duty.supervisor": "主管",
  },
  en: {
    "duty.on": "On duty",
    "duty.off": "Off duty",
    "duty.start": "Start my shift",
    "duty.end": "End my shift",
    "duty.waiting": "(sent when back online)",
    "duty.supervisor": "Supervisor",
  },
};
