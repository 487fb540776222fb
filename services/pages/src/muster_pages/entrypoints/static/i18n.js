// Muster pages: zh-CN and English labels, the language toggle, and `data-i18n` texts.
// Shared by every page: a page passes its own labels to `languages(LABELS)`.
"use strict";

export const LANGUAGES = ["zh-CN", "en"];

function chosenLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (LANGUAGES.includes(asked)) return asked;
  const kept = localStorage.getItem("muster-lang");
  return LANGUAGES.includes(kept) ? kept : "zh-CN";
}

export function languages(labels) {
  const state = { lang: chosenLanguage() };
  const t = (key, values = {}) =>
    String(labels[state.lang][key] ?? labels.en[key] ?? key).replace(
      /\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
  const apply = () => {
    document.documentElement.lang = state.lang;
    for (const element of document.querySelectorAll("[data-i18n]")) {
      element.textContent = t(element.dataset.i18n);
    }
    for (const element of document.querySelectorAll("[data-i18n-label]")) {
      element.setAttribute("aria-label", t(element.dataset.i18nLabel));
    }
    document.title = t("page_title");
  };
  const toggle = () => {
    state.lang = state.lang === "zh-CN" ? "en" : "zh-CN";
    localStorage.setItem("muster-lang", state.lang);
    apply();
  };
  return { state, t, apply, toggle };
}
