// Muster development sign-in (MUSTER_DEV_MODE only): any login name, no password.
"use strict";

import { languages } from "./i18n.js";

const i18n = languages({
  "zh-CN": {
    page_title: "开发环境登录", title: "开发环境登录", other_language: "English", sign_in: "登录",
    warning: "仅用于开发环境：无需密码，以任意账号登录。", login: "账号",
    login_help: "字母、数字、点、连字符或下划线，最多 64 个。",
    role: "身份", role_volunteer: "志愿者", role_organiser: "组织者（工作台）",
  },
  en: {
    page_title: "Development sign-in", title: "Development sign-in", other_language: "中文", sign_in: "Sign in",
    warning: "Development only: sign in with any login, no password.", login: "Login",
    login_help: "Letters, digits, dots, hyphens or underscores, up to 64.",
    role: "Sign in as", role_volunteer: "Volunteer", role_organiser: "Organiser (the console)",
  },
});
i18n.apply();
document.querySelector("#lang-toggle").addEventListener("click", i18n.toggle);
const next = new URLSearchParams(location.search).get("next");
if (next && next.startsWith("/") && !next.startsWith("//")) document.querySelector("#next").value = next;
if (next && next.startsWith("/console")) document.querySelector("#role").value = "organiser";
