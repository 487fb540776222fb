// Muster: the organisers' console. One shell for every screen; the address names the screen
// (/console, /console/drives/<id>, /console/activities, /console/activities/<id>,
// /console/activities/<id>/qr, /console/roster). Every action is a call to the services'
// public APIs through this site (`/api/<service>/…`), with the organiser's own token.
"use strict";

import { act, ApiError, read, session } from "../api.js";
import { languages } from "../i18n.js";
import qrcode from "./vendor/qrcode.mjs";

const CATEGORIES = ["elderly_care", "environment", "patrol", "epidemic_prevention", "civilised_city", "education",
  "legal_aid", "culture", "emergency", "other"];
const SKILLS = ["general", "first_aid", "medical", "elderly_care", "child_care", "tutoring", "legal_aid",
  "counselling", "electrical_repair", "plumbing", "haircut", "cooking", "driving", "photography",
  "it_support", "sign_language", "translation", "patrol", "environment"];
const BENEFICIARY_GROUPS = ["elderly", "children", "disabled", "low_income", "outdoor_workers", "residents"];
const LIVE_SECONDS = 5; // how often the attendance and the QR code are read again
const DRIVES_PAGE = 25; // drives listed at a time, the latest activity first

const LABELS = {
  "zh-CN": {
    page_title: "组织者工作台", app_name: "组织者工作台", other_language: "English", sign_out: "退出", menu: "菜单",
    nav_drives: "招募", nav_activities: "活动", nav_roster: "名册导入", nav_dashboard: "数据看板",
    not_organiser: "此账号不是组织者，无法使用工作台。", refused_title: "无权使用工作台（403）",
    refused_next: "请退出后以组织者账号登录；志愿者请使用志愿者页面。", to_volunteer_page: "前往志愿者页面", who: "{subject} · 辖区 {area}",
    launch_title: "发布招募", field_title: "标题", field_area: "辖区编码", field_category: "服务类别", field_skill: "所需技能",
    field_headcount: "招募人数", field_acceptance: "录用方式", acceptance_automatic: "先到先得", acceptance_organiser: "组织者审核",
    field_signup_closes: "报名截止", field_starts: "开始时间", field_ends: "结束时间", field_min_age: "最低年龄（选填）", field_team_min: "每队最少人数", field_team_max: "每队最多人数",
    residents_only: "仅限本辖区居民", party_members_only: "仅限党员", launch: "发布", launched: "招募已发布。",
    my_drives: "本辖区的招募", col_title: "标题", col_area: "辖区", col_starts: "开始", col_signup_closes: "报名截止",
    status_any: "全部", drive_open: "报名中", drive_closed_state: "报名已结束", more: "更多",
    open_by_id: "按编号打开", open: "打开", no_drives: "暂无。发布的招募在此显示，也可按编号打开。",
    amend_drive: "修改招募", save: "保存", saved: "已保存。", close_drive: "结束报名", drive_closed: "报名已结束。",
    headcount_of: "{role} 人数", sign_ups: "报名情况", select_all: "全选", col_volunteer: "志愿者", col_role: "岗位",
    col_status: "状态", col_team: "队伍", accept_selected: "录用所选候补", accepted_n: "已录用 {count} 人。", nothing_selected: "请先勾选候补人员。",
    status_submitted: "待处理", status_accepted: "已录用", status_waitlisted: "候补第 {position} 位", status_declined: "未录用",
    status_withdrawn: "已退出", status_promoted: "已递补录用",
    funnel_signed_up: "报名", funnel_accepted: "录用", funnel_waitlisted: "候补", funnel_declined: "未录用", funnel_withdrawn: "退出",
    teams: "队伍", form_teams: "组建队伍", reform_teams: "重新组队", teams_formed: "已组建 {count} 支队伍。", team_n: "第 {n} 队",
    leader: "队长", make_leader: "设为队长", leader_changed: "已更换队长。", move_member: "调整队员", to_team: "调入", move: "调整",
    moved: "已调整。", no_teams: "尚未组队。", merge_into: "并入第 1 队", merged: "已合并。", split_off: "拆出",
    split: "已拆分。",
    schedule_title: "安排活动", field_drive: "所属招募编号", field_place: "地点（区域编码）", field_latitude: "纬度（选填）",
    field_longitude: "经度（选填）", field_capacity: "人数上限", field_assigned: "安排的志愿者编号（以逗号分隔，选填）",
    repeat_weekly: "每周重复（与开始时间同一星期几）", field_every_weeks: "每几周", field_until: "重复至",
    schedule: "安排", scheduled: "活动已安排。", scheduled_series: "已安排 {count} 次活动。",
    activities: "活动列表", from: "从", to: "至", show_cancelled: "显示已取消", refresh: "刷新",
    col_place: "地点", col_assigned: "已安排", no_activities: "此期间没有活动。",
    state_cancelled: "已取消", state_approved: "已审核", state_scheduled: "已安排", occurrence: "第 {n} 次",
    show_qr: "显示签到二维码", approve: "审核通过时长", approved: "时长已审核。", export: "导出签到表",
    attendance: "签到情况", attendance_live: "每 5 秒自动刷新。", col_checked_in: "签到时间", col_checked_out: "签退时间",
    att_checked_in: "在岗", att_checked_out: "已签退", att_never: "未签退", att_absent: "未签到", att_rule: "按规则结束",
    correct_for: "补签：{name}", correct: "提交补签", corrected: "已补签。", field_reason: "原因",
    move_activity: "调整时间与人数", moved_activity: "活动已调整。",
    beneficiaries: "受益人次", record_beneficiaries: "记录受益人次", beneficiaries_recorded: "已记录受益人次。",
    elderly: "老年人", children: "儿童", disabled: "残障人士", low_income: "困难群众", outdoor_workers: "户外劳动者", residents: "社区居民",
    cancel_activity: "取消活动", cancelled_activity: "活动已取消。",
    qr_label: "签到二维码", qr_scan: "请用手机相机扫码签到 · 当前签到码", qr_refresh: "二维码每 {seconds} 秒更新一次，当前码还剩 {left} 秒。", back: "返回",
    roster_title: "导入志愿者名册", roster_text: "上传 CSV 或 XLSX 文件。第一行为表头：姓名、手机、楼栋、类别（必填），身份证号、技能、出生年份、工作单位（选填）。楼栋可填 16 位编号，或在辖区内唯一的名称（如 天元公寓社区/1号楼）。先预览，确认无误再导入；同一文件重复上传不会重复登记。",
    field_roster_area: "楼栋所在辖区（默认本辖区）", field_file: "名册文件", preview: "预览", import: "导入可登记的行",
    col_row: "行", col_name: "姓名", col_problems: "问题",
    roster_ready: "就绪", roster_refused: "有误", roster_already_registered: "已登记", roster_registered: "已登记（本次）",
    preview_summary: "共 {rows} 行：{ready} 行可登记，{refused} 行有误，{already} 行已登记。",
    import_progress: "正在导入：{done} / {of}", import_summary: "导入完成：新登记 {registered} 人，已登记 {already} 人，有误 {refused} 行。",
    choose_file: "请先选择名册文件。",
    problem_missing: "缺少{field}", problem_invalid: "{field}无效", problem_unknown_building: "找不到楼栋", problem_ambiguous_building: "楼栋名称不唯一",
    problem_outside_scope: "不在辖区内", problem_unknown_category: "类别无效", problem_unknown_skill: "技能无效",
    problem_duplicate_in_file: "文件内重复", problem_already_registered: "已登记",
    f_name: "姓名", f_phone: "手机号", f_building: "楼栋", f_categories: "类别", f_id_number: "身份证号", f_skills: "技能",
    f_birth_year: "出生年份", f_employer_unit: "工作单位",
    unauthenticated: "登录已失效，请重新登录。", network: "网络不通，请稍后重试（不会重复提交）。", failed: "操作失败：{message}",
    precondition_failed: "内容已被他人修改，已重新读取，请再试一次。", forbidden: "超出您的辖区或权限。",
    fix_fields: "请填写标出的内容。",
    general: "一般服务", first_aid: "急救", medical: "医疗", elderly_care: "助老", child_care: "托幼", tutoring: "课业辅导",
    legal_aid: "法律援助", counselling: "心理疏导", electrical_repair: "电器维修", plumbing: "水暖维修", haircut: "理发",
    cooking: "烹饪", driving: "驾驶", photography: "摄影", it_support: "电脑维护", sign_language: "手语", translation: "翻译",
    patrol: "巡逻", environment: "环境保护", epidemic_prevention: "疫情防控", civilised_city: "文明城市创建", education: "助学",
    culture: "文化活动", emergency: "应急救援", other: "其他",
  },
  en: {
    page_title: "Organisers' console", app_name: "Organisers' console", other_language: "中文", sign_out: "Sign out", menu: "Menu",
    nav_drives: "Drives", nav_activities: "Activities", nav_roster: "Roster import", nav_dashboard: "Dashboard",
    not_organiser: "This login is not an organiser's: the console is for organisers.", refused_title: "Not allowed here (403)",
    refused_next: "Sign out and sign in with an organiser's login; volunteers use the volunteer page.", to_volunteer_page: "To the volunteer page", who: "{subject} · area {area}",
    launch_title: "Launch a drive", field_title: "Title", field_area: "Area code", field_category: "Service category", field_skill: "Skill needed",
    field_headcount: "Places", field_acceptance: "Acceptance", acceptance_automatic: "First come, first served", acceptance_organiser: "Organiser decides",
    field_signup_closes: "Sign-up closes", field_starts: "Starts", field_ends: "Ends", field_min_age: "Minimum age (optional)", field_team_min: "Team size, at least", field_team_max: "Team size, at most",
    residents_only: "Residents of the area only", party_members_only: "Party members only", launch: "Launch", launched: "Drive launched.",
    my_drives: "Drives of your area", col_title: "Title", col_area: "Area", col_starts: "Starts", col_signup_closes: "Sign-up closes",
    status_any: "Any", drive_open: "Taking sign-ups", drive_closed_state: "Sign-up closed", more: "More",
    open_by_id: "Open by id", open: "Open", no_drives: "None yet. Drives launched for your area show here; or open one by its id.",
    amend_drive: "Amend the drive", save: "Save", saved: "Saved.", close_drive: "Close sign-up", drive_closed: "Sign-up closed.",
    headcount_of: "{role} places", sign_ups: "Sign-ups", select_all: "Select all", col_volunteer: "Volunteer", col_role: "Role",
    col_status: "Status", col_team: "Team", accept_selected: "Accept the selected waitlisted", accepted_n: "{count} accepted.", nothing_selected: "Tick waitlisted sign-ups first.",
    status_submitted: "Awaiting decision", status_accepted: "Accepted", status_waitlisted: "Waitlist place {position}", status_declined: "Declined",
    status_withdrawn: "Withdrawn", status_promoted: "Accepted from the waitlist",
    funnel_signed_up: "Signed up", funnel_accepted: "Accepted", funnel_waitlisted: "Waitlisted", funnel_declined: "Declined", funnel_withdrawn: "Withdrawn",
    teams: "Teams", form_teams: "Form teams", reform_teams: "Form again", teams_formed: "{count} teams formed.", team_n: "Team {n}",
    leader: "Leader", make_leader: "Make leader", leader_changed: "Leader changed.", move_member: "Move", to_team: "to", move: "Move",
    moved: "Moved.", no_teams: "No teams yet.", merge_into: "Merge into team 1", merged: "Merged.", split_off: "Split off",
    split: "Split.",
    schedule_title: "Schedule an activity", field_drive: "Drive id", field_place: "Place (area code)", field_latitude: "Latitude (optional)",
    field_longitude: "Longitude (optional)", field_capacity: "Capacity", field_assigned: "Volunteer ids assigned (comma-separated, optional)",
    repeat_weekly: "Repeat weekly (on the start's weekday)", field_every_weeks: "Every … weeks", field_until: "Until",
    schedule: "Schedule", scheduled: "Activity scheduled.", scheduled_series: "{count} occurrences scheduled.",
    activities: "Activities", from: "From", to: "to", show_cancelled: "Show cancelled", refresh: "Refresh",
    col_place: "Place", col_assigned: "Assigned", no_activities: "No activities in this period.",
    state_cancelled: "Cancelled", state_approved: "Approved", state_scheduled: "Scheduled", occurrence: "occurrence {n}",
    show_qr: "Show the check-in QR code", approve: "Approve the hours", approved: "Hours approved.", export: "Export attendance",
    attendance: "Attendance", attendance_live: "Refreshed every 5 seconds.", col_checked_in: "Checked in", col_checked_out: "Checked out",
    att_checked_in: "On site", att_checked_out: "Checked out", att_never: "Never checked out", att_absent: "Not checked in", att_rule: "Closed by the rule",
    correct_for: "Correct: {name}", correct: "Correct the attendance", corrected: "Attendance corrected.", field_reason: "Reason",
    move_activity: "Move or resize", moved_activity: "Activity amended.",
    beneficiaries: "Beneficiaries", record_beneficiaries: "Record beneficiaries", beneficiaries_recorded: "Beneficiaries recorded.",
    elderly: "Elderly", children: "Children", disabled: "Disabled", low_income: "Low income", outdoor_workers: "Outdoor workers", residents: "Residents",
    cancel_activity: "Cancel the activity", cancelled_activity: "Activity cancelled.",
    qr_label: "Check-in QR code", qr_scan: "Scan with the phone's camera to check in · code now", qr_refresh: "The code changes every {seconds} s; this one for {left} s more.", back: "Back",
    roster_title: "Import a volunteer roster", roster_text: "Upload a CSV or XLSX file. Row 1 is the header: name, phone, building and categories (required); id_number, skills, birth_year and employer_unit (optional). A building is its 16-digit id or a name unique in the area (e.g. 天元公寓社区/1号楼). Preview first; uploading the same file again registers nobody twice.",
    field_roster_area: "Area of the buildings (default: yours)", field_file: "Roster file", preview: "Preview", import: "Import the ready rows",
    col_row: "Row", col_name: "Name", col_problems: "Problems",
    roster_ready: "Ready", roster_refused: "Refused", roster_already_registered: "Already registered", roster_registered: "Registered now",
    preview_summary: "{rows} rows: {ready} ready, {refused} refused, {already} already registered.",
    import_progress: "Importing: {done} / {of}", import_summary: "Done: {registered} registered, {already} already registered, {refused} refused.",
    choose_file: "Choose a roster file first.",
    problem_missing: "{field} missing", problem_invalid: "{field} not valid", problem_unknown_building: "Unknown building", problem_ambiguous_building: "Building name not unique",
    problem_outside_scope: "Outside the area", problem_unknown_category: "Unknown category", problem_unknown_skill: "Unknown skill",
    problem_duplicate_in_file: "Duplicate in the file", problem_already_registered: "Already registered",
    f_name: "Name", f_phone: "Phone", f_building: "Building", f_categories: "Categories", f_id_number: "ID number", f_skills: "Skills",
    f_birth_year: "Birth year", f_employer_unit: "Employer",
    unauthenticated: "Your sign-in has expired: sign in again.", network: "No network: try again (nothing is sent twice).", failed: "That did not work: {message}",
    precondition_failed: "Someone changed it meanwhile: it is read again, try once more.", forbidden: "Outside your area or role.",
    fix_fields: "Fill in the marked fields.",
    general: "General", first_aid: "First aid", medical: "Medical", elderly_care: "Elderly care", child_care: "Child care",
    tutoring: "Tutoring", legal_aid: "Legal aid", counselling: "Counselling", electrical_repair: "Electrical repair",
    plumbing: "Plumbing", haircut: "Haircuts", cooking: "Cooking", driving: "Driving", photography: "Photography",
    it_support: "IT support", sign_language: "Sign language", translation: "Translation", patrol: "Patrol", environment: "Environment",
    epidemic_prevention: "Epidemic prevention", civilised_city: "Civilised city", education: "Education",
    culture: "Culture", emergency: "Emergency", other: "Other",
  },
};

const i18n = languages(LABELS);
const { t } = i18n;
const $ = (selector) => document.querySelector(selector);
const console_ = { session: null, area: null, screen: null, timer: null, names: {} };

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== false && value != null) node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children);
  return node;
}

const when = (iso) => iso ? new Date(iso).toLocaleString(i18n.state.lang, {
  month: "short", day: "numeric", weekday: "short", hour: "2-digit", minute: "2-digit" }) : "—";
const pad = (n) => String(n).padStart(2, "0");
// `datetime-local` inputs hold the browser's local time; the APIs take instants.
const localInput = (iso) => {
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
};
const instant = (value) => value ? new Date(value).toISOString() : null;

function say(message, kind = "info") {
  const target = $("#status");
  target.textContent = message;
  target.className = `status ${message ? kind : ""}`;
}

function words(failure) {
  if (!(failure instanceof ApiError)) return t("failed", { message: String(failure) });
  if (failure.status === 401) return t("unauthenticated");
  const { code, rule, message } = failure.error;
  for (const key of [rule, code]) if (key && LABELS.en[key]) return t(key);
  return t("failed", { message: message || code });
}

// Run an action from a button or form: the button waits, the screen is drawn again
// (`after`), then the outcome is said.
async function acting(button, work, done, after) {
  if (button) button.disabled = true;
  say("");
  try {
    const answer = await work();
    if (after) await after(answer);
    if (done) say(typeof done === "function" ? done(answer) : t(done), "ok");
    return answer;
  } catch (failure) {
    say(words(failure), "bad");
    return null;
  } finally { if (button) button.disabled = false; }
}

function options(select, values) {
  select.replaceChildren(...values.map((v) => element("option", { value: v, "data-i18n": v, text: t(v) })));
}

async function names(ids) {
  const wanted = [...new Set(ids)].filter((id) => id && !(id in console_.names));
  for (let i = 0; i < wanted.length; i += 100) {
    const answer = await read("volunteer", "volunteers/names", { ids: wanted.slice(i, i + 100).join(",") }).catch(() => ({ volunteers: [] }));
    for (const v of answer.volunteers) console_.names[v.volunteer_id] = v.name;
  }
}
const nameOf = (id) => { const n = console_.names[id]; return n && n !== "unknown" ? n : id; };

function show(screen) {
  console_.screen = screen;
  clearInterval(console_.timer);
  document.body.classList.toggle("qr-mode", screen === "qr");
  for (const section of document.querySelectorAll("[data-screen]")) section.hidden = section.dataset.screen !== screen;
  const tab = { drive: "drives", activity: "activities" }[screen] || screen;
  for (const link of document.querySelectorAll("[data-screen-link]")) {
    if (link.dataset.screenLink === tab) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function every(seconds, work) {
  clearInterval(console_.timer);
  console_.timer = setInterval(() => work().catch((failure) => say(words(failure), "bad")), seconds * 1000);
}

// ------------------------------------------------------------------ drives

function driveRow(d) {
  const state = d.status === "open" ? "drive_open" : "drive_closed_state";
  return element("tr", { "data-drive-id": d.drive_id, "data-status": d.status },
    element("td", {}, element("a", { href: `/console/drives/${d.drive_id}`, text: d.title })),
    element("td", { text: d.scope_area_id }), element("td", { text: when(d.activity_starts_at) }),
    element("td", { text: when(d.signup_closes_at) }),
    element("td", {}, element("span", { class: `badge drive-${d.status}`, text: t(state) })));
}

// The drives of the organiser's area, from dispatch's list; `after`: the next page.
async function renderDrives(after = null) {
  show("drives");
  $("#drive-area").value ||= console_.area;
  const rows = $("#drive-rows");
  const list = await read("dispatch", "drives", {
    area_id: console_.area, status: $("#drive-status").value || null, limit: DRIVES_PAGE, after });
  if (after) rows.append(...list.drives.map(driveRow));
  else rows.replaceChildren(...list.drives.map(driveRow));
  if (!rows.children.length) rows.append(element("tr", {}, element("td", { colspan: 5, class: "muted", text: t("no_drives") })));
  const more = $("#more-drives");
  more.hidden = !list.next_after;
  more.onclick = () => renderDrives(list.next_after).catch((f) => say(words(f), "bad"));
}

// The required fields left empty, each marked (and said) so; none: all filled in.
function unfilled(selectors) {
  const missing = selectors.filter((s) => !$(s).value.trim());
  for (const s of selectors) $(s).setAttribute("aria-invalid", missing.includes(s) ? "true" : "false");
  if (missing.length) say(t("fix_fields"), "bad");
  return missing.length > 0;
}

function launchForm() {
  const hours = (h) => localInput(new Date(Date.now() + h * 3600e3).toISOString());
  $("#drive-closes").value = hours(24 * 3);
  $("#drive-starts").value = hours(24 * 7);
  $("#drive-ends").value = hours(24 * 7 + 3);
  $("#launch-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (unfilled(["#drive-title", "#drive-area", "#drive-closes", "#drive-starts", "#drive-ends"])) return;
    const skill = $("#drive-skill").value;
    const eligibility = { residents_only: $("#drive-residents-only").checked, party_members_only: $("#drive-party-only").checked };
    if ($("#drive-min-age").value) eligibility.min_age = Number($("#drive-min-age").value);
    const form = {
      title: $("#drive-title").value.trim(), scope_area_id: $("#drive-area").value.trim(), category: $("#drive-category").value,
      roles: [{ role_id: skill.replaceAll("_", "-"), skill, headcount: Number($("#drive-headcount").value) }],
      signup_closes_at: instant($("#drive-closes").value), activity_starts_at: instant($("#drive-starts").value),
      activity_ends_at: instant($("#drive-ends").value), eligibility, acceptance: $("#drive-acceptance").value,
      team_size_min: Number($("#drive-team-min").value), team_size_max: Number($("#drive-team-max").value),
    };
    const drive = await acting(event.submitter, () => act("dispatch", "drives", form), "launched");
    if (drive) location.assign(`/console/drives/${drive.drive_id}`);
  });
  $("#drive-filter").addEventListener("submit", (event) => { event.preventDefault(); renderDrives().catch((f) => say(words(f), "bad")); });
  $("#open-drive").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("#open-drive-id").value.trim();
    if (id) location.assign(`/console/drives/${encodeURIComponent(id)}`);
  });
}

function statusBadge(s) {
  return element("span", { class: `badge ${s.status}`, text: t(`status_${s.status}`, { position: s.waitlist_position }) });
}

async function renderDrive(driveId) {
  show("drive");
  const [drive, signUps, teams] = await Promise.all([
    read("dispatch", `drives/${driveId}`), read("dispatch", `drives/${driveId}/sign-ups`), read("dispatch", `drives/${driveId}/teams`)]);
  await names(signUps.sign_ups.map((s) => s.volunteer_id));
  $("#drive-heading").textContent = drive.title;
  $("#drive-facts").textContent = `${drive.drive_id} · ${t(drive.category)} · ${drive.scope_area_id} · ${when(drive.activity_starts_at)} – ${when(drive.activity_ends_at)}`;
  $("#drive-funnel").replaceChildren(...Object.entries(drive.funnel).filter(([k]) => LABELS.en[`funnel_${k}`]).map(([k, v]) =>
    element("div", { class: "figure", "data-funnel": k }, element("span", { class: "value", text: String(v) }), t(`funnel_${k}`))));
  $("#amend-roles").replaceChildren(...drive.roles.map((role) => element("div", {},
    element("label", { for: `headcount-${role.role_id}`, text: t("headcount_of", { role: t(role.skill) }) }),
    element("input", { id: `headcount-${role.role_id}`, type: "number", min: 1, value: role.headcount, "data-role-id": role.role_id }))));
  $("#amend-closes").value = localInput(drive.signup_closes_at);
  $("#amend-drive").onsubmit = async (event) => {
    event.preventDefault();
    const headcounts = Object.fromEntries([...document.querySelectorAll("#amend-roles input")].map((i) => [i.dataset.roleId, Number(i.value)]));
    // Drawn again either way: the version now, for the next amendment.
    await acting(event.submitter, () => act("dispatch", `drives/${driveId}/amend`,
      { headcounts, signup_closes_at: instant($("#amend-closes").value) }, { headers: { "If-Match": String(drive.version) } }),
    "saved", () => renderDrive(driveId));
  };
  $("#close-drive").onclick = async (event) => {
    await acting(event.target, () => act("dispatch", `drives/${driveId}/close`, {}), "drive_closed", () => renderDrive(driveId));
  };
  const teamNumber = Object.fromEntries(teams.teams.map((team, i) => [team.team_id, i + 1]));
  $("#sign-up-rows").replaceChildren(...signUps.sign_ups.map((s) => element("tr", { "data-sign-up-id": s.sign_up_id, "data-status": s.status },
    element("td", {}, element("input", { type: "checkbox", value: s.sign_up_id, disabled: s.status !== "waitlisted", "aria-label": nameOf(s.volunteer_id) })),
    element("td", { text: nameOf(s.volunteer_id) }), element("td", { text: s.role_id }), element("td", {}, statusBadge(s)),
    element("td", { text: s.team_id ? t("team_n", { n: teamNumber[s.team_id] }) : "" }))));
  $("#select-all").onchange = (event) => {
    for (const box of document.querySelectorAll("#sign-up-rows input:not(:disabled)")) box.checked = event.target.checked;
  };
  $("#accept-selected").onclick = async (event) => {
    const ids = [...document.querySelectorAll("#sign-up-rows input:checked")].map((i) => i.value);
    if (!ids.length) { say(t("nothing_selected"), "bad"); return; }
    await acting(event.target, () => act("dispatch", `drives/${driveId}/accept`, { sign_up_ids: ids }),
      () => t("accepted_n", { count: ids.length }), () => renderDrive(driveId));
  };
  renderTeams(driveId, teams.teams);
}

function renderTeams(driveId, teams) {
  const redraw = () => renderDrive(driveId);
  const list = $("#team-list");
  list.replaceChildren(...teams.map((team, i) => element("div", { class: "team", "data-team-id": team.team_id },
    element("h3", { text: `${t("team_n", { n: i + 1 })} · ${team.members.length}` }),
    element("ul", { class: "list" }, ...team.members.map((member) => element("li", { "data-volunteer-id": member },
      element("span", { class: member === team.leader_id ? "leader" : "", text: member === team.leader_id ? `${nameOf(member)} · ${t("leader")}` : nameOf(member) }),
      member === team.leader_id ? "" : element("span", { class: "row" },
        element("button", { type: "button", class: "small make-leader", text: t("make_leader"), onclick: async (event) => {
          await acting(event.target, () => act("dispatch", `drives/${driveId}/teams/leader`, { team_id: team.team_id, leader_id: member }), "leader_changed", redraw);
        } }),
        element("button", { type: "button", class: "small split", text: t("split_off"), onclick: async (event) => {
          await acting(event.target, () => act("dispatch", `drives/${driveId}/teams/split`, { team_id: team.team_id, members: [member] }), "split", redraw);
        } }))))),
    i === 0 ? "" : element("button", { type: "button", class: "small merge", text: t("merge_into"), onclick: async (event) => {
      await acting(event.target, () => act("dispatch", `drives/${driveId}/teams/merge`, { team_id: teams[0].team_id, absorbed_team_id: team.team_id }), "merged", redraw);
    } }))));
  if (!teams.length) list.append(element("p", { class: "muted", text: t("no_teams") }));
  $("#move-form").hidden = teams.length < 2;
  $("#move-volunteer").replaceChildren(...teams.flatMap((team) => team.members.map((m) => element("option", { value: m, text: nameOf(m) }))));
  $("#move-team").replaceChildren(...teams.map((team, i) => element("option", { value: team.team_id, text: t("team_n", { n: i + 1 }) })));
  $("#move-form").onsubmit = async (event) => {
    event.preventDefault();
    const body = { volunteer_id: $("#move-volunteer").value, to_team_id: $("#move-team").value };
    await acting(event.submitter, () => act("dispatch", `drives/${driveId}/teams/move`, body), "moved", redraw);
  };
  const form = (reform) => async (event) => {
    await acting(event.target, () => act("dispatch", `drives/${driveId}/teams`, { reform }),
      () => t("teams_formed", { count: $("#team-list").querySelectorAll(".team").length }), redraw);
  };
  $("#form-teams").onclick = form(false);
  $("#reform-teams").onclick = form(true);
}

// ------------------------------------------------------------------ activities

function activityState(a) {
  const state = a.cancelled ? "cancelled" : a.approved ? "approved" : "scheduled";
  return element("span", { class: `badge ${state}`, text: t(`state_${state}`) });
}

async function renderActivities() {
  show("activities");
  $("#act-place").value ||= console_.area;
  const from = $("#filter-from").value ? new Date(`${$("#filter-from").value}T00:00`) : new Date(Date.now() - 7 * 86400e3);
  const to = $("#filter-to").value ? new Date(`${$("#filter-to").value}T23:59:59`) : new Date(Date.now() + 120 * 86400e3);
  // With the activities, the drives an activity may belong to: the area's still taking sign-ups.
  const [open, list] = await Promise.all([
    read("dispatch", "drives", { area_id: console_.area, status: "open", limit: 200 }),
    read("dispatch", "activities", {
      area_id: console_.area, from: from.toISOString(), to: to.toISOString(),
      include_cancelled: $("#filter-cancelled").checked, limit: 200 })]);
  $("#known-drives").replaceChildren(...open.drives.map((d) => element("option", { value: d.drive_id, label: d.title })));
  const rows = $("#activity-rows");
  rows.replaceChildren(...list.activities.map((a) => element("tr", { "data-activity-id": a.activity_id, class: a.cancelled ? "cancelled" : "" },
    element("td", {}, element("a", { href: `/console/activities/${a.activity_id}`, text: a.title }),
      a.occurrence ? element("span", { class: "muted", text: ` · ${t("occurrence", { n: a.occurrence })}` }) : ""),
    element("td", { class: "starts", text: `${when(a.starts_at)} – ${new Date(a.ends_at).toLocaleTimeString(i18n.state.lang, { hour: "2-digit", minute: "2-digit" })}` }),
    element("td", { text: a.place_area_id }), element("td", { text: `${a.assigned} / ${a.capacity}` }),
    element("td", {}, activityState(a)),
    element("td", {}, a.cancelled ? "" : element("a", { href: `/console/activities/${a.activity_id}/qr`, text: "QR" })))));
  if (!list.activities.length) rows.append(element("tr", {}, element("td", { colspan: 6, class: "muted", text: t("no_activities") })));
}

function scheduleForm() {
  const start = new Date(Date.now() + 86400e3); start.setMinutes(0, 0, 0);
  $("#act-starts").value = localInput(start.toISOString());
  $("#act-ends").value = localInput(new Date(start.getTime() + 2 * 3600e3).toISOString());
  $("#activity-filter").addEventListener("submit", (event) => { event.preventDefault(); renderActivities().catch((f) => say(words(f), "bad")); });
  $("#schedule-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (unfilled(["#act-title", "#act-place", "#act-starts", "#act-ends", "#act-drive"])) return;
    const form = {
      title: $("#act-title").value.trim(), drive_id: $("#act-drive").value.trim(), place_area_id: $("#act-place").value.trim(),
      category: $("#act-category").value, starts_at: instant($("#act-starts").value), ends_at: instant($("#act-ends").value),
      capacity: Number($("#act-capacity").value),
      assigned_volunteer_ids: $("#act-assigned").value.split(/[\s,，]+/).filter(Boolean),
    };
    if ($("#act-latitude").value && $("#act-longitude").value) {
      form.latitude = Number($("#act-latitude").value); form.longitude = Number($("#act-longitude").value);
    }
    // The list is a read model: it follows the events a moment later.
    const listed = async (answer) => {
      const id = answer.activity_id || answer.occurrences[0].activity_id;
      for (let tries = 0; tries < 20; tries += 1) {
        await renderActivities();
        if (document.querySelector(`#activity-rows tr[data-activity-id="${id}"]`)) return;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    };
    if ($("#act-repeat").checked) {
      const weekday = new Date(form.starts_at).getDay() || 7; // ISO: 1 Monday … 7 Sunday
      form.repeat = { weekdays: [weekday], every_weeks: Number($("#act-every").value), until: $("#act-until").value };
      await acting(event.submitter, () => act("dispatch", "activity-series", form),
        (series) => t("scheduled_series", { count: series.occurrences.length }), listed);
    } else {
      await acting(event.submitter, () => act("dispatch", "activities", form), "scheduled", listed);
    }
  });
}

function attendanceState(a) {
  if (a.closed_by_rule) return "rule";
  if (a.check_out_at) return "checked_out";
  return "checked_in";
}

async function renderActivity(activityId) {
  show("activity");
  const draw = async () => {
    const [activity, open] = await Promise.all([
      read("dispatch", `activities/${activityId}`), read("dispatch", `activities/${activityId}/never-checked-out`)]);
    const never = new Set(open.attendances.map((a) => a.volunteer_id));
    const ended = new Date(activity.ends_at) < new Date();
    await names([...activity.assigned, ...activity.attendances.map((a) => a.volunteer_id)]);
    $("#activity-heading").textContent = activity.title;
    $("#activity-heading").append(" ", activityState(activity));
    $("#activity-facts").textContent = `${activity.activity_id} · ${activity.place_area_id} · ${when(activity.starts_at)} – ${when(activity.ends_at)} · ${activity.attendances.length} / ${activity.capacity}`;
    const byVolunteer = Object.fromEntries(activity.attendances.map((a) => [a.volunteer_id, a]));
    const people = [...new Set([...activity.assigned, ...Object.keys(byVolunteer)])];
    $("#attendance-rows").replaceChildren(...people.map((id) => {
      const a = byVolunteer[id];
      const state = !a ? "absent" : never.has(id) && ended ? "never" : attendanceState(a);
      return element("tr", { "data-volunteer-id": id, "data-state": state },
        element("td", { text: nameOf(id) }), element("td", { text: when(a?.check_in_at) }), element("td", { text: when(a?.check_out_at) }),
        element("td", {}, element("span", { class: `badge ${state === "checked_in" ? "checked_in" : state === "never" ? "open" : ""}`, text: t(`att_${state}`) })),
        element("td", {}, activity.approved || activity.cancelled ? "" : element("button", { type: "button", class: "small correct", text: t("correct"),
          onclick: () => openCorrection(activity, id, a) })));
    }));
    $("#approve").disabled = activity.approved || activity.cancelled;
    $("#export-link").onclick = () => exportAttendance(activity, people, byVolunteer);
    return activity;
  };
  let activity = await draw();
  $("#qr-link").href = `/console/activities/${activityId}/qr`;
  $("#qr-link").hidden = activity.cancelled;
  $("#amend-starts").value = localInput(activity.starts_at);
  $("#amend-ends").value = localInput(activity.ends_at);
  $("#amend-capacity").value = activity.capacity;
  $("#beneficiary-fields").replaceChildren(...BENEFICIARY_GROUPS.map((g) => element("div", {},
    element("label", { for: `beneficiaries-${g}`, "data-i18n": g, text: t(g) }),
    element("input", { id: `beneficiaries-${g}`, type: "number", min: 0, value: activity.beneficiaries[g] ?? 0, "data-group": g }))));
  $("#amend-activity").onsubmit = async (event) => {
    event.preventDefault();
    const current = await read("dispatch", `activities/${activityId}`);
    const body = { starts_at: instant($("#amend-starts").value), ends_at: instant($("#amend-ends").value), capacity: Number($("#amend-capacity").value) };
    await acting(event.submitter, () => act("dispatch", `activities/${activityId}/amend`, body, { headers: { "If-Match": String(current.version) } }), "moved_activity", async () => { activity = await draw(); });
  };
  $("#cancel-form").onsubmit = async (event) => {
    event.preventDefault();
    const reason = $("#cancel-reason").value.trim();
    if (!reason) { $("#cancel-reason").setAttribute("aria-invalid", "true"); say(t("fix_fields"), "bad"); return; }
    await acting(event.submitter, () => act("dispatch", `activities/${activityId}/cancel`, { reason }), "cancelled_activity", async () => { activity = await draw(); });
  };
  $("#beneficiaries-form").onsubmit = async (event) => {
    event.preventDefault();
    const counts = Object.fromEntries([...document.querySelectorAll("#beneficiary-fields input")].map((i) => [i.dataset.group, Number(i.value || 0)]));
    await acting(event.submitter, () => act("dispatch", `activities/${activityId}/beneficiaries`, { counts }), "beneficiaries_recorded");
  };
  $("#approve").onclick = async (event) => {
    await acting(event.target, () => act("dispatch", `activities/${activityId}/approve`, {}), "approved", async () => { activity = await draw(); });
  };
  every(LIVE_SECONDS, async () => { if (!document.hidden) activity = await draw(); });
}

function openCorrection(activity, volunteerId, attendance) {
  const form = $("#correct-form");
  form.hidden = false;
  form.dataset.volunteerId = volunteerId;
  $("#correct-heading").textContent = t("correct_for", { name: nameOf(volunteerId) });
  $("#correct-in").value = localInput(attendance?.check_in_at || activity.starts_at);
  $("#correct-out").value = localInput(attendance?.check_out_at || activity.ends_at);
  $("#correct-reason").value = "";
  $("#correct-reason").focus();
  form.onsubmit = async (event) => {
    event.preventDefault();
    const reason = $("#correct-reason").value.trim();
    $("#correct-reason").setAttribute("aria-invalid", reason ? "false" : "true");
    if (!reason) { say(t("fix_fields"), "bad"); return; }
    const body = { check_in_at: instant($("#correct-in").value), check_out_at: instant($("#correct-out").value), reason };
    const path = `activities/${activity.activity_id}/attendances/${encodeURIComponent(volunteerId)}/correct`;
    await acting(event.submitter, () => act("dispatch", path, body), "corrected", () => { form.hidden = true; });
  };
}

function exportAttendance(activity, people, byVolunteer) {
  const cell = (v) => `"${String(v ?? "").replaceAll('"', '""')}"`;
  const lines = [[t("col_volunteer"), "volunteer_id", t("col_checked_in"), t("col_checked_out")].map(cell).join(",")];
  for (const id of people) lines.push([nameOf(id), id, byVolunteer[id]?.check_in_at, byVolunteer[id]?.check_out_at].map(cell).join(","));
  const link = element("a", { href: URL.createObjectURL(new Blob(["\ufeff" + lines.join("\r\n")], { type: "text/csv" })), download: `${activity.activity_id}.csv` });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// ------------------------------------------------------------------ the QR screen

function drawQr(text) {
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const size = qr.getModuleCount();
  const margin = 4;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${size + 2 * margin} ${size + 2 * margin}`);
  svg.setAttribute("shape-rendering", "crispEdges");
  const ground = document.createElementNS(svg.namespaceURI, "rect");
  for (const [k, v] of Object.entries({ width: "100%", height: "100%", fill: "#fff" })) ground.setAttribute(k, v);
  let path = "";
  for (let row = 0; row < size; row += 1) {
    for (let col = 0; col < size; col += 1) if (qr.isDark(row, col)) path += `M${col + margin} ${row + margin}h1v1h-1z`;
  }
  const modules = document.createElementNS(svg.namespaceURI, "path");
  modules.setAttribute("d", path);
  modules.setAttribute("fill", "#000");
  svg.append(ground, modules);
  const holder = $("#qr-code");
  holder.replaceChildren(svg);
  holder.dataset.payload = text;
}

async function renderQr(activityId) {
  show("qr");
  $("#qr-back").href = `/console/activities/${activityId}`;
  const activity = await read("dispatch", `activities/${activityId}`);
  $("#qr-title").textContent = activity.title;
  let left = 0;
  let period = 60;
  const refresh = async () => {
    const shown = await read("dispatch", `activities/${activityId}/check-in-code`);
    if ($("#qr-code").dataset.payload !== shown.qr_payload) drawQr(shown.qr_payload);
    $("#qr-plain").textContent = shown.code;
    left = shown.valid_for_seconds;
    period = Math.max(period, left);
  };
  await refresh();
  const tick = async () => {
    left -= 1;
    if (left <= 0) await refresh();
    $("#qr-refresh").textContent = t("qr_refresh", { seconds: period, left: Math.max(left, 0) });
  };
  $("#qr-refresh").textContent = t("qr_refresh", { seconds: period, left });
  every(1, tick);
}

// ------------------------------------------------------------------ roster import

const ROSTER_TYPES = { csv: "text/csv", xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" };

function rosterFile() {
  const file = $("#roster-file").files[0];
  if (!file) return null;
  const extension = file.name.split(".").pop().toLowerCase();
  return { file, type: ROSTER_TYPES[extension] || file.type || "text/csv" };
}

function rosterQuery() {
  const area = $("#roster-area").value.trim();
  return area ? `?area_id=${encodeURIComponent(area)}` : "";
}

async function upload(path, chosen, key) {
  const response = await fetch(`/api/volunteer/rosters/${path}${rosterQuery()}`, {
    method: "POST", body: chosen.file,
    headers: { "Content-Type": chosen.type, Accept: "application/json", "Idempotency-Key": key, "Accept-Language": document.documentElement.lang },
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new ApiError(response.status, body.error || { code: `http_${response.status}` });
  }
  return response;
}

function problemWords(p) {
  const key = `problem_${p.code}`;
  const field = LABELS.en[`f_${p.field}`] ? t(`f_${p.field}`) : p.field;
  return LABELS.en[key] ? t(key, { field }) : p.message;
}

const rosterNames = {}; // row -> name, from the preview (the import's outcomes carry none)

function rosterRows(details) {
  for (const d of details) if (d.name) rosterNames[d.row] = d.name;
  $("#roster-rows").replaceChildren(...details.map((d) => element("tr", { "data-row": d.row, class: d.status === "refused" ? "refused" : "" },
    element("td", { text: String(d.row) }), element("td", { text: d.name || rosterNames[d.row] || "" }),
    element("td", {}, element("span", { class: `badge ${d.status}`, text: t(`roster_${d.status}`) })),
    element("td", { class: "problems", text: d.errors.map(problemWords).join("；") }))));
}

function renderRoster() {
  show("roster");
  $("#roster-area").placeholder = console_.area;
}

function rosterForm() {
  $("#roster-file").addEventListener("change", () => { $("#roster-import").disabled = true; });
  $("#roster-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = rosterFile();
    if (!chosen) { say(t("choose_file"), "bad"); return; }
    const preview = await acting(event.submitter, async () => (await upload("preview", chosen, crypto.randomUUID())).json());
    if (!preview) return;
    rosterRows(preview.details);
    $("#roster-summary").textContent = t("preview_summary", { rows: preview.rows, ready: preview.ready, refused: preview.refused, already: preview.already_registered });
    $("#roster-import").disabled = preview.ready === 0;
    say("");
  });
  $("#roster-import").addEventListener("click", async (event) => {
    const chosen = rosterFile();
    if (!chosen) { say(t("choose_file"), "bad"); return; }
    const bar = $("#roster-progress");
    bar.hidden = false; bar.value = 0;
    const summary = await acting(event.target, async () => {
      const response = await upload("import", chosen, crypto.randomUUID());
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = "";
      let last = null;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += value;
        const lines = buffered.split("\n");
        buffered = lines.pop();
        for (const line of lines.filter(Boolean)) {
          last = JSON.parse(line);
          bar.max = Math.max(last.of, 1); bar.value = last.done;
          $("#roster-summary").textContent = t("import_progress", last);
        }
      }
      return last;
    });
    if (summary?.details) {
      rosterRows(summary.details);
      $("#roster-summary").textContent = t("import_summary", { registered: summary.registered, already: summary.already_registered, refused: summary.refused });
      event.target.disabled = true;
    }
  });
}

// ------------------------------------------------------------------ start

async function route() {
  const path = location.pathname.replace(/\/$/, "");
  const claims = console_.session.claims || {};
  // Signed out: to the sign-in, which comes back here.
  if (!console_.session.signed_in) { location.assign(`/sign-in?next=${encodeURIComponent(path + location.search)}`); return; }
  // The page answered 403: the console is for organisers, and says so in words.
  if (!["organiser", "admin"].includes(claims.role)) { show("refused"); $("#sign-out").hidden = false; return; }
  console_.area = claims.area;
  $("#who").textContent = t("who", { subject: claims.sub, area: claims.area });
  $("#sign-out").hidden = false;
  $("#side").hidden = false;
  // The leadership dashboard, read through this site with the organiser's own session
  // (its `token` is a stand-in: the pages service sends the session's token instead).
  $("#dashboard-link").href = `/api/reporting/dashboard/?token=session&lang=${i18n.state.lang}#${claims.area}`;
  let match;
  if ((match = path.match(/^\/console\/drives\/([^/]+)$/))) await renderDrive(decodeURIComponent(match[1]));
  else if ((match = path.match(/^\/console\/activities\/([^/]+)\/qr$/))) await renderQr(decodeURIComponent(match[1]));
  else if ((match = path.match(/^\/console\/activities\/([^/]+)$/))) await renderActivity(decodeURIComponent(match[1]));
  else if (path === "/console/activities") await renderActivities();
  else if (path === "/console/roster") renderRoster();
  else await renderDrives();
}

async function start() {
  for (const select of document.querySelectorAll("select[data-choices]")) {
    options(select, select.dataset.choices === "skills" ? SKILLS : CATEGORIES);
  }
  i18n.apply();
  $("#lang-toggle").addEventListener("click", () => {
    i18n.toggle();
    if (!["refused", "roster"].includes(console_.screen)) route().catch((failure) => say(words(failure), "bad"));
  });
  launchForm();
  scheduleForm();
  rosterForm();
  console_.session = await session();
  await route();
  document.body.dataset.ready = location.pathname; // tests wait for the screen to be drawn
}

start().catch((failure) => { say(words(failure), "bad"); document.body.dataset.ready = location.pathname; });
