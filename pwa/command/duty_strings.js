// The command centre's words for who is on duty where (duty.js).

export const DUTY_STRINGS = {
  zh: {
    "duty.title": "在岗人员",
    "duty.count": "{n} / {total} 人在岗",
    "duty.nobody": "现在没有人在岗。",
    "duty.no_zone": "未指定区域",
    "duty.supervisor": "主管",
    "duty.on": "在岗",
    "duty.unavailable": "暂时无法读取人员名单。",
  },
  en: {
    "duty.title": "On duty",
    "duty.count": "{n} of {total} on duty",
    "duty.nobody": "Nobody is on duty now.",
    "duty.no_zone": "No zone given",
    "duty.supervisor": "Supervisor",
    "duty.on": "on duty",
    "duty.unavailable": "The roster cannot be read right now.",
  },
};
