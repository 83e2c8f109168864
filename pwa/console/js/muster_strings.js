// The words of the console's assembly points (on the venue page), in
// Simplified Chinese and English. "Assembly point" is 集合点, as on the
// command centre and the phones (pwa/command/evacuation_strings.js).

export const MUSTER_STRINGS = {
  zh: {
    "muster.title": "集合点",
    "muster.help": "疏散时人员前往的集合点。勾选哪些区域的人到这里集合；地图说明会显示在工作人员手机和指挥中心上。",
    "muster.name": "集合点名称",
    "muster.name_placeholder": "例如：东侧停车场",
    "muster.map_note": "地图说明",
    "muster.map_note_placeholder": "例如：旗杆旁，出北门左转",
    "muster.zones": "来自区域：",
    "muster.no_zones": "先添加区域。",
    "muster.added": "已添加集合点「{name}」",
    "muster.removed": "已删除集合点「{name}」",
    "muster.remove_title": "删除集合点「{name}」？",
    "muster.remove_help": "疏散或演练中已在此清点过人员的集合点不能删除，它的报告要用到它。",
  },
  en: {
    "muster.title": "Assembly points",
    "muster.help": "Where people gather in an evacuation. Tick the zones whose people go to each point; the map note shows on the staff phones and the command centre.",
    "muster.name": "Assembly point name",
    "muster.name_placeholder": "e.g. East car park",
    "muster.map_note": "Map note",
    "muster.map_note_placeholder": "e.g. by the flagpole, left out of the north door",
    "muster.zones": "From zones:",
    "muster.no_zones": "Add a zone first.",
    "muster.added": "Assembly point “{name}” added",
    "muster.removed": "Assembly point “{name}” removed",
    "muster.remove_title": "Remove assembly point “{name}”?",
    "muster.remove_help": "A point where people were accounted in an evacuation or a drill cannot be removed: its report names it.",
  },
};
