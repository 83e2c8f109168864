// The home page: its words and the language buttons (kept out of index.html:
// no inline script under the Content-Security-Policy, server/security_headers.py).
import { addStrings, applyTranslations, setLanguage } from "/shared/i18n.js";
addStrings({
  zh: {
    "home.tagline": "活动现场运营：签名二维码门票、入口检票、实时人数、物资与事件。",
    "home.console": "组织者控制台", "home.console_help": "创建活动、场地与票种，导入参会者，打印胸卡，绑定工作手机。",
    "home.command": "指挥中心", "home.command_help": "大屏实时查看各区域人数、入口、物资、事件与告警。",
    "home.app": "工作人员手机应用", "home.app_help": "入口扫码检票（断网可用）、上报事件、登记物资。",
  },
  en: {
    "home.tagline": "On-site operations for live events: signed QR tickets, admission at the doors, live headcounts, stock and incidents.",
    "home.console": "Organiser console", "home.console_help": "Create the event, venue and ticket types, import attendees, print badges, pair staff phones.",
    "home.command": "Command centre", "home.command_help": "The big screen: live headcount per zone, gates, stock, incidents and alerts.",
    "home.app": "Staff phone app", "home.app_help": "Scan tickets at the door (works offline), report incidents, record stock.",
  },
});
for (const b of document.querySelectorAll("[data-lang]")) b.addEventListener("click", () => setLanguage(b.dataset.lang));
applyTranslations();
