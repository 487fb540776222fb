// Muster: the volunteer's phone page. One shell for every screen; the address names the
// screen (/, /register, /drives, /record, /inbox, /check-in/<activity>?code=…).
"use strict";

import { act, ApiError, read, session } from "./api.js";
import { languages } from "./i18n.js";

const LABELS = {
  "zh-CN": {
    page_title: "志愿服务", app_name: "志愿服务", other_language: "English", sign_out: "退出", menu: "菜单",
    tab_home: "首页", tab_drives: "招募", tab_record: "时长", tab_inbox: "消息",
    welcome_title: "欢迎参加志愿服务", welcome_text: "登录后即可报名招募、扫码签到、查看服务时长。", sign_in: "登录",
    greeting: "{name}，您好", home_area: "居住地：{area}", my_sign_ups: "我的报名", find_drives: "查看招募",
    nothing_yet: "暂无",
    my_activities: "我的活动", recent_activities: "近期已结束", no_activities: "暂无待参加的活动。",
    my_teams: "我的服务队", no_teams: "您尚未编入服务队。", go_check_in: "去签到",
    badge_cancelled: "已取消", badge_checked_in: "已签到", badge_checked_out: "已签退",
    team_line: "队长：{leader} · {count} 人", team_line_lead: "我是队长 · {count} 人",
    claim_title: "已有邀请码？", claim_text: "社区已为您登记的，请输入组织者给您的邀请码，关联到您的志愿者档案。",
    field_claim_code: "邀请码", claim_submit: "关联我的档案", error_code: "请输入邀请码，如 7KQ2-M9XD-4HRT-PV3A。",
    invitation_not_found: "邀请码不正确，请核对后重试。", invitation_used: "该邀请码已被使用。",
    invitation_expired: "该邀请码已过期，请联系组织者重新邀请。", invitation_superseded: "该邀请码已被新的邀请码取代，请使用最新的邀请码。",
    login_already_bound: "您的账号已关联其他志愿者。", volunteer_already_bound: "该志愿者已有登录账号。",
    too_many_claim_attempts: "尝试次数过多，请一小时后再试。", erased: "该志愿者档案已注销。",
    register_title: "志愿者注册", register_text: "请填写以下信息。带 * 的为必填项。",
    field_name: "姓名 *", field_phone: "手机号 *", field_id_number: "身份证号（选填）", field_home_area: "居住地 *",
    field_categories: "身份类别 *", field_employer_unit: "工作单位 *", field_skills: "技能特长", register_submit: "提交注册",
    choose: "请选择", level_district: "区", level_street: "街道", level_community: "社区", level_grid: "网格", level_building: "楼栋",
    party_member: "党员", in_service_party_member: "在职党员（双报到）", resident: "居民", student: "学生", company_staff: "企业职工",
    general: "一般服务", first_aid: "急救", medical: "医疗", elderly_care: "助老", child_care: "托幼", tutoring: "课业辅导",
    legal_aid: "法律援助", counselling: "心理疏导", electrical_repair: "电器维修", plumbing: "水暖维修", haircut: "理发",
    cooking: "烹饪", driving: "驾驶", photography: "摄影", it_support: "电脑维护", sign_language: "手语", translation: "翻译",
    patrol: "巡逻", environment: "环境保护",
    error_name: "请填写姓名（最多 50 个字）。", error_phone: "请填写 11 位大陆手机号，如 138 0013 8000。",
    error_id_number: "身份证号应为 18 位，且出生日期和校验位有效。", error_home_area_id: "请选择居住地。",
    error_categories: "请至少选择一个身份类别。", error_employer_unit: "在职党员请填写工作单位。", error_skills: "技能选择无效。",
    duplicate_phone: "该手机号已注册。", duplicate_id_number: "该身份证号已注册。", already_registered: "您已注册。",
    registered: "注册成功！", fix_fields: "请修改标出的内容。",
    open_drives: "适合我的招募", no_drives: "目前没有适合您的招募。", sign_up_for: "报名：{role}",
    places: "{headcount} 人", closes: "报名截止 {when}", starts: "活动时间 {when}",
    signed_up: "已提交报名，结果稍后显示。", withdraw: "退出报名", withdrawn_now: "已退出报名。",
    status_submitted: "待处理", status_accepted: "已录用", status_waitlisted: "候补第 {position} 位",
    status_declined: "未录用", status_withdrawn: "已退出", status_promoted: "已递补录用",
    my_record: "我的服务记录", hours_total: "累计服务时长（小时）", stars: "星级", statement: "打印志愿服务证明",
    records: "服务明细", record_line: "{date} · {hours} 小时", no_records: "暂无经认定的服务时长。",
    inbox: "我的消息", mark_all_read: "全部已读", no_messages: "暂无消息。",
    check_in_title: "扫码签到", activity: "活动", check_in_button: "签到（获取位置）", check_out_button: "签退",
    check_in_location_note: "点击签到后，手机会询问是否允许获取位置，用于确认您在活动现场。",
    locating: "正在获取位置…", sending: "正在提交…",
    checked_in: "签到成功：{time}", checked_out: "签退成功：{time}。感谢您的服务！",
    too_far: "您距离活动地点约 {distance} 米，需在 {radius} 米以内才能签到。请到现场后再试。",
    expired_code: "二维码已过期，请重新扫描组织者出示的二维码。",
    wrong_code: "这不是本活动的签到码，请重新扫描组织者出示的二维码。",
    not_assigned: "您未被安排参加此活动，请联系组织者。",
    outside_time_tolerance: "现在不在签到时间内。", location_required: "此活动需要位置才能签到，请允许获取位置后重试。",
    already_checked_in: "您已签到过此活动。", overlapping_check_in: "您在另一个活动中尚未签退，请先签退。",
    activity_cancelled: "此活动已取消。", already_checked_out: "您已签退。", check_out_without_check_in: "您尚未签到此活动。",
    location_denied: "无法获取位置：{reason}。请在浏览器设置中允许获取位置后重试。",
    no_code: "链接中没有签到码，请重新扫描二维码。", activity_not_known: "此活动信息尚未送达，请稍后再试。",
    not_registered: "请先注册成为志愿者。", unauthenticated: "登录已失效，请重新登录。",
    network: "网络不通，请稍后重试（不会重复提交）。", failed: "操作失败：{message}",
  },
  en: {
    page_title: "Volunteer", app_name: "Volunteer", other_language: "中文", sign_out: "Sign out", menu: "Menu",
    tab_home: "Home", tab_drives: "Drives", tab_record: "Hours", tab_inbox: "Messages",
    welcome_title: "Welcome, volunteer", welcome_text: "Sign in to sign up for drives, check in by scanning and see your hours.",
    sign_in: "Sign in",
    greeting: "Hello, {name}", home_area: "Home: {area}", my_sign_ups: "My sign-ups", find_drives: "Find drives",
    nothing_yet: "Nothing yet",
    my_activities: "My activities", recent_activities: "Recently ended", no_activities: "No upcoming activities.",
    my_teams: "My teams", no_teams: "You are not in a team yet.", go_check_in: "Check in",
    badge_cancelled: "Cancelled", badge_checked_in: "Checked in", badge_checked_out: "Checked out",
    team_line: "Leader: {leader} · {count} members", team_line_lead: "You lead · {count} members",
    claim_title: "Have an invitation code?", claim_text: "If your community registered you, enter the code the organiser gave you to link your record.",
    field_claim_code: "Invitation code", claim_submit: "Link my record", error_code: "Enter the invitation code, e.g. 7KQ2-M9XD-4HRT-PV3A.",
    invitation_not_found: "This invitation code is not right: check it and try again.", invitation_used: "This invitation code has been used.",
    invitation_expired: "This invitation code has expired: ask the organiser for a new one.",
    invitation_superseded: "A newer invitation replaced this code: use the latest one.",
    login_already_bound: "Your login already speaks for another volunteer.", volunteer_already_bound: "This volunteer already has a login.",
    too_many_claim_attempts: "Too many tries: try again in an hour.", erased: "This volunteer's record was erased.",
    register_title: "Register as a volunteer", register_text: "Fill in the form. Fields marked * are required.",
    field_name: "Name *", field_phone: "Mobile phone *", field_id_number: "ID number (optional)", field_home_area: "Where you live *",
    field_categories: "Who you are *", field_employer_unit: "Employer *", field_skills: "Skills", register_submit: "Register",
    choose: "Choose", level_district: "District", level_street: "Street", level_community: "Community", level_grid: "Grid", level_building: "Building",
    party_member: "Party member", in_service_party_member: "In-service party member", resident: "Resident", student: "Student",
    company_staff: "Company staff",
    general: "General", first_aid: "First aid", medical: "Medical", elderly_care: "Elderly care", child_care: "Child care",
    tutoring: "Tutoring", legal_aid: "Legal aid", counselling: "Counselling", electrical_repair: "Electrical repair",
    plumbing: "Plumbing", haircut: "Haircuts", cooking: "Cooking", driving: "Driving", photography: "Photography",
    it_support: "IT support", sign_language: "Sign language", translation: "Translation", patrol: "Patrol", environment: "Environment",
    error_name: "Enter your name (up to 50 characters).", error_phone: "Enter a mainland mobile number of 11 digits, e.g. 138 0013 8000.",
    error_id_number: "An ID number has 18 characters with a valid date of birth and check digit.",
    error_home_area_id: "Choose where you live.", error_categories: "Choose at least one.",
    error_employer_unit: "An in-service party member gives their employer.", error_skills: "These skills are not valid.",
    duplicate_phone: "This phone number is already registered.", duplicate_id_number: "This ID number is already registered.",
    already_registered: "You are already registered.", registered: "You are registered!", fix_fields: "Please correct the marked fields.",
    open_drives: "Drives that fit me", no_drives: "No open drive fits you right now.", sign_up_for: "Sign up: {role}",
    places: "{headcount} places", closes: "Sign-up closes {when}", starts: "Takes place {when}",
    signed_up: "Signed up; the decision follows shortly.", withdraw: "Withdraw", withdrawn_now: "You have withdrawn.",
    status_submitted: "Awaiting decision", status_accepted: "Accepted", status_waitlisted: "Waitlist place {position}",
    status_declined: "Declined", status_withdrawn: "Withdrawn", status_promoted: "Accepted from the waitlist",
    my_record: "My service record", hours_total: "Approved hours", stars: "Stars", statement: "Print my hours statement",
    records: "Records", record_line: "{date} · {hours} h", no_records: "No approved hours yet.",
    inbox: "My messages", mark_all_read: "Mark all read", no_messages: "No messages yet.",
    check_in_title: "Check in", activity: "Activity", check_in_button: "Check in (share location)", check_out_button: "Check out",
    check_in_location_note: "When you tap, your phone asks to share your location, to confirm you are at the activity.",
    locating: "Finding your location…", sending: "Sending…",
    checked_in: "Checked in at {time}", checked_out: "Checked out at {time}. Thank you for your service!",
    too_far: "You are about {distance} m from the activity; check-in needs you within {radius} m. Try again on site.",
    expired_code: "This code has expired: scan the organiser's QR code again.",
    wrong_code: "This is not this activity's code: scan the organiser's QR code again.",
    not_assigned: "You are not assigned to this activity; ask the organiser.",
    outside_time_tolerance: "Check-in is not open at this time.",
    location_required: "This activity needs your location: allow it and try again.",
    already_checked_in: "You have already checked in here.", overlapping_check_in: "You are still checked in at another activity: check out there first.",
    activity_cancelled: "This activity is cancelled.", already_checked_out: "You have already checked out.",
    check_out_without_check_in: "You have not checked in here.",
    location_denied: "Your location is not available: {reason}. Allow it in the browser's settings and try again.",
    no_code: "The link has no check-in code: scan the QR code again.",
    activity_not_known: "This activity has not reached us yet: try again in a moment.",
    not_registered: "Register as a volunteer first.", unauthenticated: "Your sign-in has expired: sign in again.",
    network: "No network: try again (nothing is sent twice).", failed: "That did not work: {message}",
  },
};
const CATEGORIES = ["party_member", "in_service_party_member", "resident", "student", "company_staff"];
const SKILLS = ["general", "first_aid", "medical", "elderly_care", "child_care", "tutoring", "legal_aid",
  "counselling", "electrical_repair", "plumbing", "haircut", "cooking", "driving", "photography",
  "it_support", "sign_language", "translation", "patrol", "environment"];
const MAINLAND_MOBILE = /^(\+?86)?1[3-9]\d{9}$/;

const i18n = languages(LABELS);
const { t } = i18n;
const $ = (selector) => document.querySelector(selector);
const page = { me: null, session: null, screen: null, stream: null };

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

const when = (iso) => new Date(iso).toLocaleString(i18n.state.lang, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

function say(message, kind = "info", target = $("#status")) {
  target.textContent = message;
  target.className = `status ${message ? kind : ""}`;
}

// A refusal in words: the service's rule or code, with its figures.
function words(failure) {
  if (!(failure instanceof ApiError)) return t("failed", { message: String(failure) });
  const { code, rule, message } = failure.error;
  if (code === "not_found" && failure.error.field === "activity_id") return t("activity_not_known");
  if (rule === "too_far") {
    return t("too_far", { distance: Math.round(failure.error.distance_m ?? NaN), radius: Math.round(failure.error.radius_m ?? NaN) });
  }
  for (const key of [rule, code]) if (key && LABELS.en[key]) return t(key);
  return t("failed", { message: message || code });
}

// Screens drawn from what they read, drawn again in the other language; a form or a
// check-in under way keeps what it holds and only its labels change.
const REDRAWN_ON_TOGGLE = new Set(["home", "drives", "record", "inbox"]);

function show(screen) {
  page.screen = screen;
  for (const section of document.querySelectorAll("[data-screen]")) section.hidden = section.dataset.screen !== screen;
  for (const link of document.querySelectorAll("[data-screen-link]")) {
    if (link.dataset.screenLink === screen) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// ------------------------------------------------------------------ home

function statusBadge(signUp) {
  const status = signUp.status || "submitted";
  return element("span", { class: `badge ${status}`, text: t(`status_${status}`, { position: signUp.waitlist_position }) });
}

async function renderHome() {
  show("home");
  $("#greeting").textContent = t("greeting", { name: page.me.name });
  $("#home-area").textContent = t("home_area", { area: page.me.home_area.join(" · ") || page.me.home_area_id });
  const [{ sign_ups: signUps }, drives] = await Promise.all([
    read("volunteer", "me/sign-ups"), read("volunteer", "drives").catch(() => ({ drives: [] }))]);
  const titles = Object.fromEntries(drives.drives.map((d) => [d.drive_id, d.title]));
  const list = $("#home-sign-ups");
  list.replaceChildren(...signUps.map((s) => element("li", {}, `${titles[s.drive_id] || s.drive_title || s.drive_id} `, statusBadge(s))));
  if (!signUps.length) list.append(element("li", { class: "muted", text: t("nothing_yet") }));
  const [activities, { teams }] = await Promise.all([
    read("volunteer", "me/activities", { limit: 10, recent_days: 7 }), read("volunteer", "me/teams")]);
  fill($("#home-activities"), activities.upcoming.map(activityItem), "no_activities");
  fill($("#home-recent"), activities.recent.slice(0, 3).map(activityItem));
  $("#home-recent-title").hidden = !activities.recent.length;
  fill($("#home-teams"), teams.map(teamItem), "no_teams");
}

function fill(list, items, emptyLabel) {
  list.replaceChildren(...items);
  if (!items.length && emptyLabel) list.append(element("li", { class: "muted", text: t(emptyLabel) }));
}

// An activity of mine: when and where, its drive, whether I came; check in while it is on.
function activityItem(a) {
  const badges = [];
  if (a.cancelled) badges.push(element("span", { class: "badge declined", text: t("badge_cancelled") }));
  else if (a.checked_out_at) badges.push(element("span", { class: "badge accepted", text: t("badge_checked_out") }));
  else if (a.checked_in_at) badges.push(element("span", { class: "badge accepted", text: t("badge_checked_in") }));
  const where = a.place.slice(-2).join(" ") || a.place_area_id;
  const item = element("li", { "data-activity-id": a.activity_id },
    element("strong", { text: a.title }), " ", ...badges, element("br"),
    element("span", { class: "muted", text: `${when(a.starts_at)} – ${when(a.ends_at)} · ${where}` }));
  if (a.drive_title) item.append(element("br"), element("span", { class: "muted", text: a.drive_title }));
  if (a.check_in_open && !a.checked_in_at) {
    item.append(element("br"), element("a", { class: "button primary", href: `/check-in/${encodeURIComponent(a.activity_id)}`, text: t("go_check_in") }));
  }
  return item;
}

function teamItem(team) {
  const line = t(team.i_lead ? "team_line_lead" : "team_line", { leader: team.leader_name || "—", count: team.members_count });
  return element("li", { "data-team-id": team.team_id },
    element("strong", { text: team.drive_title || team.drive_id }), element("br"), element("span", { class: "muted", text: line }));
}

// ------------------------------------------------------------------ register

async function areaLevel(areaId, depth) {
  const area = await read("dispatch", `areas/${encodeURIComponent(areaId)}`);
  const levels = $("#area-levels");
  while (levels.children.length > depth) levels.lastElementChild.remove();
  if (!area.children.length) return;
  const level = area.children[0].level;
  const id = `area-${depth}`;
  const select = element("select", { id, "data-level": level, "aria-describedby": "error-home_area_id" },
    element("option", { value: "", text: t("choose") }),
    ...area.children.map((c) => element("option", { value: c.id, text: c.name })));
  select.addEventListener("change", () => {
    if (select.value) areaLevel(select.value, depth + 1);
    else while (levels.children.length > depth + 1) levels.lastElementChild.remove();
  });
  levels.append(element("div", {}, element("label", { for: id, "data-i18n": `level_${level}`, text: t(`level_${level}`) }), select));
}

function chosenArea() {
  const chosen = [...document.querySelectorAll("#area-levels select")].map((s) => s.value).filter(Boolean);
  return chosen.at(-1) || "";
}

function choices(container, name, values) {
  container.replaceChildren(...values.map((value) => element("label", {},
    element("input", { type: "checkbox", name, value }), element("span", { "data-i18n": value, text: t(value) }))));
}

function fieldError(field, message) {
  const slot = $(`#error-${field}`);
  if (slot) slot.textContent = message;
  const input = $(`#${field}`);
  if (input) input.setAttribute("aria-invalid", message ? "true" : "false");
  return Boolean(slot);
}

function checkForm(form) {
  const problems = {};
  if (!form.name.trim() || form.name.length > 50) problems.name = t("error_name");
  if (!MAINLAND_MOBILE.test(form.phone.replace(/[\s-]/g, ""))) problems.phone = t("error_phone");
  if (form.id_number && form.id_number.length !== 18) problems.id_number = t("error_id_number");
  if (!form.home_area_id) problems.home_area_id = t("error_home_area_id");
  if (!form.categories.length) problems.categories = t("error_categories");
  if (form.categories.includes("in_service_party_member") && !form.employer_unit) problems.employer_unit = t("error_employer_unit");
  return problems;
}

function readForm() {
  const checked = (name) => [...document.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value);
  const form = {
    name: $("#name").value, phone: $("#phone").value.trim(), id_number: $("#id_number").value.trim() || null,
    home_area_id: chosenArea(), categories: checked("categories"), skills: checked("skills"),
    employer_unit: $("#employer_unit").value.trim() || null,
  };
  if (!form.skills.length) delete form.skills;
  for (const key of ["id_number", "employer_unit"]) if (form[key] == null) delete form[key];
  return form;
}

function claimInvitation() {
  const input = $("#claim-code");
  const refuse = (message) => {
    $("#error-code").textContent = message;
    input.setAttribute("aria-invalid", message ? "true" : "false");
  };
  $("#claim-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const code = input.value.trim();
    refuse(code ? "" : t("error_code"));
    if (!code) return;
    const button = event.submitter; button.disabled = true;
    try {
      await act("volunteer", "me/claim", { code });
      location.assign("/");
    } catch (failure) {
      refuse(words(failure));
    } finally { button.disabled = false; }
  });
}

async function renderRegister() {
  show("register");
  claimInvitation();
  choices($("#category-choices"), "categories", CATEGORIES);
  choices($("#skill-choices"), "skills", SKILLS);
  $("#category-choices").addEventListener("change", () => {
    $("#employer-unit-field").hidden = !$('input[value="in_service_party_member"]').checked;
  });
  await areaLevel(page.session.root_area_id, 0);
  const key = crypto.randomUUID(); // one registration intended, however often it is sent
  $("#register-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = readForm();
    const problems = checkForm(form);
    for (const field of ["name", "phone", "id_number", "home_area_id", "categories", "employer_unit", "skills"]) {
      fieldError(field, problems[field] || "");
    }
    if (Object.keys(problems).length) { say(t("fix_fields"), "bad"); $("[aria-invalid=true]")?.focus(); return; }
    const button = event.submitter; button.disabled = true;
    try {
      await act("volunteer", "volunteers", form, { key });
      say(t("registered"), "ok");
      location.assign("/");
    } catch (failure) {
      const detail = failure.error || {};
      const fields = detail.fields || (detail.field ? [{ field: detail.field, rule: detail.code }] : []);
      let placed = false;
      for (const f of fields) {
        const field = String(f.field).split(".")[0];
        placed = fieldError(field, LABELS.en[detail.code] && detail.code !== "validation_failed" ? t(detail.code) : t(`error_${field}`)) || placed;
      }
      say(placed ? t("fix_fields") : words(failure), "bad");
    } finally { button.disabled = false; }
  });
}

// ------------------------------------------------------------------ drives

async function renderDrives() {
  show("drives");
  const [{ drives }, { sign_ups: signUps }] = await Promise.all([read("volunteer", "drives"), read("volunteer", "me/sign-ups")]);
  const mine = new Set(signUps.filter((s) => !["withdrawn", "declined"].includes(s.status)).map((s) => s.drive_id));
  const list = $("#drive-list");
  list.replaceChildren(...drives.map((drive) => element("li", { "data-drive-id": drive.drive_id },
    element("h3", { text: drive.title }),
    element("p", { class: "muted", text: `${t("starts", { when: when(drive.activity_starts_at) })} · ${t("closes", { when: when(drive.signup_closes_at) })}` }),
    element("div", { class: "row" }, ...drive.roles.map((role) => element("button", {
      type: "button", class: "primary", "data-role-id": role.role_id, ...(mine.has(drive.drive_id) ? { disabled: "" } : {}),
      text: `${t("sign_up_for", { role: t(role.skill) })} (${t("places", { headcount: role.headcount })})`,
      onclick: async (event) => {
        event.target.disabled = true;
        try {
          await act("volunteer", `drives/${drive.drive_id}/sign-ups`, { role_id: role.role_id });
          say(t("signed_up"), "ok");
          setTimeout(renderDrives, 1500);
        } catch (failure) { say(words(failure), "bad"); event.target.disabled = false; }
      } }))))));
  if (!drives.length) list.append(element("li", { class: "muted", text: t("no_drives") }));
  const titles = Object.fromEntries(drives.map((d) => [d.drive_id, d.title]));
  const mineList = $("#sign-up-list");
  mineList.replaceChildren(...signUps.map((s) => element("li", { "data-sign-up-id": s.sign_up_id },
    element("div", { class: "row" }, element("span", { class: "grow", text: titles[s.drive_id] || s.drive_id }), statusBadge(s)),
    ...(["withdrawn", "declined"].includes(s.status) ? [] : [element("button", {
      type: "button", class: "withdraw", text: t("withdraw"),
      onclick: async (event) => {
        event.target.disabled = true;
        try { await act("volunteer", `sign-ups/${s.sign_up_id}/withdraw`, {}); say(t("withdrawn_now"), "ok"); setTimeout(renderDrives, 1500); }
        catch (failure) { say(words(failure), "bad"); event.target.disabled = false; }
      } })]))));
  if (!signUps.length) mineList.append(element("li", { class: "muted", text: t("nothing_yet") }));
}

// ------------------------------------------------------------------ record

async function renderRecord() {
  show("record");
  const record = await read("volunteer", "me/service-record");
  $("#total-hours").textContent = String(Math.round(record.total_hours * 10) / 10);
  $("#stars").textContent = "★".repeat(record.stars || 0) || "0";
  $("#statement-link").href = `/api/volunteer/me/hours-statement?format=html&lang=${i18n.state.lang}`;
  const list = $("#record-list");
  list.replaceChildren(...record.records.map((r) => element("li", { "data-record-id": r.record_id },
    element("strong", { text: r.activity_title || r.drive_title || r.activity_id }), element("br"),
    t("record_line", { date: r.service_date, hours: r.hours }))));
  if (!record.records.length) list.append(element("li", { class: "muted", text: t("no_records") }));
}

// ------------------------------------------------------------------ inbox

function messageItem(m) {
  return element("li", { class: m.read ? "" : "unread", "data-message-id": m.message_id },
    element("strong", { text: m.title }), element("br"), m.body, element("br"),
    element("span", { class: "muted", text: when(m.delivered_at) }));
}

async function renderInbox() {
  show("inbox");
  const inbox = await read("notify", "me/notifications", { limit: 50 });
  const list = $("#message-list");
  list.replaceChildren(...inbox.messages.map(messageItem));
  if (!inbox.messages.length) list.append(element("li", { class: "muted", text: t("no_messages") }));
  $("#mark-all-read").onclick = async () => {
    await act("notify", "me/notifications/read", { all: true });
    for (const item of list.querySelectorAll(".unread")) item.classList.remove("unread");
    showUnread(0);
  };
  // New messages as they are delivered (resumes after a reconnect by Last-Event-ID).
  page.stream?.close();
  const stream = new EventSource("/api/notify/me/notifications/stream");
  page.stream = stream;
  stream.addEventListener("notification", (event) => {
    const message = JSON.parse(event.data);
    if (list.querySelector(`[data-message-id="${message.message_id}"]`)) return;
    list.querySelector(".muted")?.remove();
    list.prepend(messageItem(message));
  });
  stream.onerror = () => { if (stream.readyState === EventSource.CLOSED) stream.close(); };
}

function showUnread(count) {
  const badge = $("#unread-badge");
  badge.hidden = !count;
  badge.textContent = String(count);
}

// ------------------------------------------------------------------ check in

function position() {
  return new Promise((resolve, reject) => navigator.geolocation.getCurrentPosition(resolve, reject, {
    enableHighAccuracy: true, timeout: 20000, maximumAge: 0 }));
}

async function renderCheckIn(activityId) {
  show("check-in");
  const code = new URLSearchParams(location.search).get("code");
  const result = $("#check-in-result");
  $("#check-in-activity").textContent = activityId;
  if (!code) { say(t("no_code"), "bad", result); $("#check-in-button").hidden = true; return; }
  const checkInKey = crypto.randomUUID(); // this scan's check-in, however often it is retried
  const checkOutKey = crypto.randomUUID();
  const checkInButton = $("#check-in-button");
  const checkOutButton = $("#check-out-button");
  checkInButton.addEventListener("click", async () => {
    checkInButton.disabled = true;
    say(t("locating"), "info", result);
    let coordinates = {};
    try {
      const where = await position(); // asked only now, on the volunteer's tap
      coordinates = { latitude: where.coords.latitude, longitude: where.coords.longitude };
    } catch (failure) {
      say(t("location_denied", { reason: failure.message || failure.code }), "bad", result);
      checkInButton.disabled = false;
      return;
    }
    say(t("sending"), "info", result);
    try {
      const attendance = await act("volunteer", `activities/${encodeURIComponent(activityId)}/check-in`,
        { code, ...coordinates }, { key: checkInKey });
      say(t("checked_in", { time: when(attendance.checked_in_at || new Date().toISOString()) }), "ok", result);
      checkInButton.hidden = true;
      checkOutButton.hidden = false;
    } catch (failure) {
      say(words(failure), "bad", result);
      if (failure.error?.rule === "already_checked_in") { checkInButton.hidden = true; checkOutButton.hidden = false; }
    } finally { checkInButton.disabled = false; }
  });
  checkOutButton.addEventListener("click", async () => {
    checkOutButton.disabled = true;
    try {
      const attendance = await act("volunteer", `activities/${encodeURIComponent(activityId)}/check-out`, {}, { key: checkOutKey });
      say(t("checked_out", { time: when(attendance.checked_out_at || new Date().toISOString()) }), "ok", result);
      checkOutButton.hidden = true;
    } catch (failure) { say(words(failure), "bad", result); checkOutButton.disabled = false; }
  });
}

// ------------------------------------------------------------------ start

async function start() {
  i18n.apply();
  $("#lang-toggle").addEventListener("click", () => {
    i18n.toggle();
    if (REDRAWN_ON_TOGGLE.has(page.screen)) route().catch((failure) => say(words(failure), "bad"));
  });
  page.session = await session();
  await route();
}

async function route() {
  const path = location.pathname;
  $("#sign-in-link").href = `/sign-in?next=${encodeURIComponent(path + location.search)}`;
  if (!page.session.signed_in) { show("signed-out"); return ready(path); }
  try {
    page.me = page.me || (await read("volunteer", "me"));
  } catch (failure) {
    if (failure.status === 401) { show("signed-out"); say(t("unauthenticated"), "bad"); return ready(path); }
    if (failure.error?.code !== "not_registered") throw failure;
  }
  $("#sign-out").hidden = false;
  if (!page.me) { await renderRegister(); return ready(path); }
  $("#tabs").hidden = false;
  read("notify", "me/notifications/unread-count").then((c) => showUnread(c.unread)).catch(() => {});
  const checkIn = path.match(/^\/check-in\/([^/]+)$/);
  if (checkIn) await renderCheckIn(decodeURIComponent(checkIn[1]));
  else if (path === "/drives") await renderDrives();
  else if (path === "/record") await renderRecord();
  else if (path === "/inbox") await renderInbox();
  else await renderHome();
  return ready(path);
}

function ready(path) {
  document.body.dataset.ready = path; // tests wait for the screen to be drawn
}

start().catch((failure) => say(words(failure), "bad"));
