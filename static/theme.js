// Light, dark or the system's theme, remembered in this browser.
"use strict";
// A classic script in <head>, so the saved theme is in place before the first paint and the page does not flash.
(() => {
  const KEY = "webui-theme";
  const root = document.documentElement;
  const apply = (theme) => {
    if (theme === "light" || theme === "dark") root.dataset.theme = theme;
    else delete root.dataset.theme;
  };
  const saved = () => {
    try {
      return localStorage.getItem(KEY) || "system";
    } catch {
      return "system";
    }
  };
  apply(saved());
  document.addEventListener("DOMContentLoaded", () => {
    const picker = document.getElementById("theme");
    picker.value = saved();
    picker.addEventListener("change", () => {
      apply(picker.value);
      try {
        localStorage.setItem(KEY, picker.value);
      } catch {
        // Storage can be off (private mode): the choice then lasts until the page closes.
      }
    });
  });
})();
