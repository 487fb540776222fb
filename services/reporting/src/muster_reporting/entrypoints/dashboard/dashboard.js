// Muster leadership dashboard: totals of an area, its children (click to drill down), service
// over time, beneficiaries by group, volunteers by category and the drive funnel.
// Reads the JSON reports with the caller's bearer token (?token=… once, then kept for the tab).
"use strict";

const LABELS = {
  "zh-CN": {
    title: "志愿服务数据看板", lang: "English", token_prompt: "访问令牌", token_use: "查看",
    loading: "加载中…", failed: "加载失败：", unauthorised: "令牌无效或已过期，请重新输入。",
    children_title: "下级区域", export_xlsx: "导出 Excel", series_title: "近30天服务情况", beneficiaries_title: "受益人次（按群体）",
    categories_title: "注册志愿者（按类别）", funnel_title: "招募转化漏斗",
    area: "区域", registered: "注册志愿者", activities: "活动场次", turnouts: "志愿者人次",
    hours: "服务时长（小时）", beneficiaries: "受益人次",
    elderly: "老年人", children: "儿童", disabled: "残疾人", low_income: "低收入家庭",
    outdoor_workers: "户外劳动者", residents: "居民",
    party_member: "党员", in_service_party_member: "在职党员（双报到）", resident: "居民",
    student: "学生", company_staff: "企业职工",
    signed_up: "报名", accepted: "录用", assigned: "编入队伍", checked_in: "签到", hours_approved: "时长认定",
    funnel_scope: "在「{area}」及其下级区域发起的招募。",
    funnel_empty: "这些招募尚无人报名，漏斗为空。",
    funnel_elsewhere: "本区域的 {n} 人次按服务地点统计；其招募的报名计入招募发起区域的漏斗。",
    funnel_no_sign_ups: "暂无报名",
    no_beneficiaries: "暂无受益人次",
  },
  en: {
    title: "Volunteer service dashboard", lang: "中文", token_prompt: "Access token", token_use: "Open",
    loading: "Loading…", failed: "Could not load: ", unauthorised: "The token is invalid or expired; enter another.",
    children_title: "Areas below", export_xlsx: "Export to Excel", series_title: "Service over the last 30 days",
    beneficiaries_title: "Beneficiaries by group", categories_title: "Registered volunteers by category",
    funnel_title: "Drive funnel",
    area: "Area", registered: "Registered volunteers", activities: "Activities", turnouts: "Turn-outs",
    hours: "Service hours", beneficiaries: "Beneficiaries",
    elderly: "Elderly", children: "Children", disabled: "Disabled", low_income: "Low-income households",
    outdoor_workers: "Outdoor workers", residents: "Residents",
    party_member: "Party members", in_service_party_member: "In-service party members", resident: "Residents",
    student: "Students", company_staff: "Company staff",
    signed_up: "Signed up", accepted: "Accepted", assigned: "Assigned", checked_in: "Checked in",
    hours_approved: "Hours approved",
    funnel_scope: "Drives launched for {area} and the areas within it.",
    funnel_empty: "No one has signed up for such a drive yet, so the funnel is empty.",
    funnel_elsewhere: "The {n} turn-outs here count where volunteers served; their drives' sign-ups count in the funnel of the area each drive was launched for.",
    funnel_no_sign_ups: "No sign-ups",
    no_beneficiaries: "No beneficiaries recorded",
  },
};
const MEASURES = ["registered", "activities", "turnouts", "hours", "beneficiaries"];
const GROUPS = ["elderly", "children", "disabled", "low_income", "outdoor_workers", "residents"];
const CATEGORIES = ["party_member", "in_service_party_member", "resident", "student", "company_staff"];
const SERIES_AXES = ["hours", "turnouts", "beneficiaries"]; // the time chart: one axis each
const SERIES_COLOURS = ["#5470c6", "#c62828", "#2e7d32"];

const state = {
  lang: new URLSearchParams(location.search).get("lang") === "en" ? "en" : "zh-CN",
  token: null,
  trail: [], // [{id, name}] from the caller's scope down to the area shown
  data: null,
  charts: {},
};

const t = (key, values = {}) =>
  (LABELS[state.lang][key] ?? key).replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
const $ = (selector) => document.querySelector(selector);
const formatNumber = (value) => String(Math.round(value * 100) / 100);

function takeToken() {
  const params = new URLSearchParams(location.search);
  if (params.has("token")) {
    sessionStorage.setItem("muster-token", params.get("token"));
    params.delete("token"); // keep it out of the address bar and history
    const query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? `?${query}` : "") + location.hash);
  }
  return sessionStorage.getItem("muster-token");
}

async function api(path, params) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v != null));
  const response = await fetch(`../reports/${path}?${query}`, {
    headers: { Authorization: `Bearer ${state.token}` },
  });
  if (response.status === 401) throw Object.assign(new Error(t("unauthorised")), { unauthorised: true });
  const body = await response.json();
  if (!response.ok) throw new Error(body?.error?.message ?? response.statusText);
  return body;
}

async function load(areaId) {
  $("#status").textContent = t("loading");
  document.body.dataset.ready = "";
  try {
    const [service, volunteers, series, funnel, where] = await Promise.all([
      api("service", { area_id: areaId }),
      api("volunteers", { area_id: areaId }),
      api("service/series", { area_id: areaId, granularity: "day" }),
      api("funnel", { area_id: areaId }),
      areaId ? api(`areas/${encodeURIComponent(areaId)}`, {}) : null, // none: the caller's scope
    ]);
    state.data = { service, volunteers, series, funnel };
    // The whole path from the caller's scope, also when the page opens deep in the tree.
    const path = where ? where.path : [service.area];
    state.trail = path.map((step) => ({ id: step.area_id, name: step.name }));
    history.replaceState(null, "", location.pathname + location.search + `#${service.area.area_id}`);
    $("#status").textContent = "";
    $("#report").hidden = false;
    render();
  } catch (error) {
    $("#status").textContent = error.unauthorised ? error.message : t("failed") + error.message;
    if (error.unauthorised) askForToken();
  }
}

function render() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("#lang-toggle").textContent = t("lang");
  document.title = t("title");
  renderBreadcrumb();
  if (!state.data) return;
  renderTotals();
  renderChildren();
  renderCharts();
  document.body.dataset.ready = state.data.service.area.area_id;
}

function renderBreadcrumb() {
  const nav = $("#breadcrumb");
  nav.replaceChildren();
  state.trail.forEach((step, index) => {
    if (index) nav.append(Object.assign(document.createElement("span"), { className: "sep", textContent: "›" }));
    const last = index === state.trail.length - 1;
    const item = document.createElement(last ? "strong" : "a");
    item.textContent = step.name;
    item.dataset.areaId = step.id;
    if (!last) { item.href = `#${step.id}`; item.addEventListener("click", (e) => { e.preventDefault(); load(step.id); }); }
    nav.append(item);
  });
}

function rowValues(service, volunteers) {
  return {
    registered: volunteers?.registered ?? 0, activities: service.activities, turnouts: service.turnouts,
    hours: service.hours, beneficiaries: service.beneficiaries,
  };
}

function renderTotals() {
  const { service, volunteers } = state.data;
  const values = rowValues(service.area, volunteers.area);
  $("#totals").replaceChildren(...MEASURES.map((measure) => {
    const card = document.createElement("div");
    card.className = "card";
    card.dataset.measure = measure;
    card.innerHTML = `<span class="label"></span><span class="value"></span>`;
    card.querySelector(".label").textContent = t(measure);
    card.querySelector(".value").textContent = formatNumber(values[measure]);
    return card;
  }));
}

function renderChildren() {
  const { service, volunteers } = state.data;
  const registeredOf = new Map(volunteers.children.map((c) => [c.area_id, c]));
  const head = $("#children thead tr");
  head.replaceChildren(...["area", ...MEASURES].map((key) => Object.assign(document.createElement("th"), { textContent: t(key) })));
  $("#children tbody").replaceChildren(...service.children.map((child) => {
    const row = document.createElement("tr");
    row.dataset.areaId = child.area_id;
    const name = document.createElement("td");
    if (child.level === "building") {
      name.textContent = child.name;
    } else {
      const link = Object.assign(document.createElement("a"), { textContent: child.name, className: "drill", href: `#${child.area_id}` });
      link.addEventListener("click", (e) => { e.preventDefault(); load(child.area_id); });
      name.append(link);
    }
    row.append(name);
    const values = rowValues(child, registeredOf.get(child.area_id));
    for (const measure of MEASURES) {
      const cell = Object.assign(document.createElement("td"), { textContent: formatNumber(values[measure]) });
      cell.dataset.measure = measure;
      row.append(cell);
    }
    return row;
  }));
}

const emptyTitle = (text) => ({
  text, left: "center", top: "middle", textStyle: { color: "#616e7c", fontSize: 14, fontWeight: "normal" },
});

function chart(id) {
  state.charts[id] ??= echarts.init(document.getElementById(id));
  return state.charts[id];
}

function renderCharts() {
  const { service, volunteers, series, funnel } = state.data;
  const base = { animation: false, tooltip: { trigger: "item" } };
  const days = series.points.map((p) => p.period.slice(5));
  chart("chart-series").setOption({
    ...base,
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    grid: { left: 56, right: 112, top: 36, bottom: 28 },
    xAxis: { type: "category", data: days },
    // One axis per series, named and coloured as its series: hours on the left, the two
    // counts of people (whole numbers) on the right.
    yAxis: SERIES_AXES.map((measure, index) => ({
      type: "value",
      name: t(measure),
      nameLocation: "middle",
      nameGap: index ? 36 : 40,
      nameTextStyle: { color: SERIES_COLOURS[index] },
      position: index ? "right" : "left",
      offset: index === 2 ? 56 : 0,
      minInterval: measure === "hours" ? 0 : 1,
      axisLine: { show: true, lineStyle: { color: SERIES_COLOURS[index] } },
      splitLine: { show: index === 0 },
    })),
    series: SERIES_AXES.map((measure, index) => ({
      name: t(measure), type: index ? "line" : "bar", yAxisIndex: index,
      itemStyle: { color: SERIES_COLOURS[index] }, lineStyle: index ? { color: SERIES_COLOURS[index] } : undefined,
      data: series.points.map((p) => p[measure]),
    })),
  }, true);
  // Only the groups served: zero slices would pile their labels up, and with none served
  // the chart says so instead of drawing equal slices of nothing.
  const byGroup = service.area.beneficiaries_by_group;
  const served = GROUPS.filter((g) => byGroup[g]).map((g) => ({ name: t(g), value: byGroup[g] }));
  chart("chart-beneficiaries").setOption({
    ...base,
    title: served.length ? undefined : emptyTitle(t("no_beneficiaries")),
    series: served.length ? [{
      type: "pie", radius: ["30%", "55%"], data: served,
      label: { width: 96, overflow: "break" }, // long English names wrap, never cut
    }] : [],
  }, true);
  const byCategory = volunteers.area.by_category;
  chart("chart-categories").setOption({
    ...base,
    // containLabel: the grid makes room for the longest category name in either language.
    grid: { left: 8, right: 24, top: 8, bottom: 24, containLabel: true },
    xAxis: { type: "value", minInterval: 1 }, // counts of people: whole numbers
    yAxis: { type: "category", data: CATEGORIES.map(t) },
    series: [{ type: "bar", data: CATEGORIES.map((c) => byCategory[c] ?? 0) }],
  }, true);
  renderFunnel(funnel, service.area);
}

// The funnel of the drives launched for this area and below: said in words above the chart,
// with why it is empty when it is. Widths are in proportion to the largest stage, so an
// empty funnel draws no bars at all.
function renderFunnel(funnel, area) {
  const largest = Math.max(0, ...funnel.stages.map((s) => s.count));
  const note = [t("funnel_scope", { area: area.name })];
  if (!largest) {
    note.push(t("funnel_empty"));
    if (area.turnouts) note.push(t("funnel_elsewhere", { n: area.turnouts }));
  }
  $("#funnel-note").textContent = note.join(" ");
  $("#chart-funnel").dataset.empty = largest ? "false" : "true";
  chart("chart-funnel").setOption({
    animation: false, tooltip: { trigger: "item" },
    title: largest ? undefined : emptyTitle(t("funnel_no_sign_ups")),
    series: largest ? [{
      type: "funnel", sort: "none", left: 8, width: "55%", min: 0, max: largest, minSize: "0%", // labels on the right
      label: { formatter: (p) => `${p.name} ${p.value}` },
      data: funnel.stages.map((s) => ({ name: t(s.stage), value: s.count })),
    }] : [],
  }, true);
}

function askForToken() {
  const form = $("#token-form");
  form.hidden = false;
  form.onsubmit = (event) => {
    event.preventDefault();
    state.token = $("#token-input").value.trim();
    sessionStorage.setItem("muster-token", state.token);
    form.hidden = true;
    load(null);
  };
}

// The table as a spreadsheet: the API's own XLSX export, fetched with the token.
async function exportTable() {
  const areaId = state.data?.service.area.area_id;
  if (!areaId) return;
  const response = await fetch(`../reports/service?${new URLSearchParams({ area_id: areaId, format: "xlsx" })}`, {
    headers: { Authorization: `Bearer ${state.token}` },
  });
  if (!response.ok) { $("#status").textContent = t("failed") + response.statusText; return; }
  const link = Object.assign(document.createElement("a"), {
    href: URL.createObjectURL(await response.blob()), download: `muster-service-${areaId}.xlsx`,
  });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

$("#export-xlsx").addEventListener("click", exportTable);
$("#lang-toggle").addEventListener("click", () => {
  state.lang = state.lang === "en" ? "zh-CN" : "en";
  render();
});
window.addEventListener("resize", () => Object.values(state.charts).forEach((c) => c.resize()));

state.token = takeToken();
render();
if (state.token) load(location.hash.slice(1) || null); else askForToken();
