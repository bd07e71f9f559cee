// Small DOM helpers shared by the page modules.
import { _ } from "./i18n.js";

export const $ = (id) => document.getElementById(id);

// Safari has no requestIdleCallback: a timer with an 8 ms budget stands in.
export const whenIdle =
  window.requestIdleCallback ||
  ((callback) =>
    setTimeout(() => {
      const end = performance.now() + 8;
      callback({ timeRemaining: () => end - performance.now() });
    }, 16));
export const cancelIdle = window.cancelIdleCallback || clearTimeout;

// h("button", {type: "button", onclick}, "text", child…): properties for on* and known props, attributes otherwise.
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") || key in node) node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

// Resolves to true when the person confirms; the dialog is a <form method="dialog">, so no script runs in it.
// `label` is the confirming button's verb: what the action does (Revoke, Remove), not always Delete.
export function confirmDialog(text, label = _("Delete")) {
  const dialog = $("confirm-dialog");
  $("confirm-text").textContent = text;
  dialog.querySelector("button[value=confirm]").textContent = label;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true }));
}

// navigator.clipboard exists only in secure contexts; a phone opening the LAN address over http needs the fallback.
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = h("textarea", { value: text, readOnly: true, className: "clipboard-helper" });
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

// A Copy button says for a moment whether it worked, then becomes a Copy button again.
export async function copyWithFeedback(button, text) {
  try {
    await copyText(text);
    button.textContent = _("Copied");
  } catch {
    button.textContent = _("Could not copy");
  }
  setTimeout(() => (button.textContent = _("Copy")), 1500);
}

// Screen readers hear finished pieces of an answer from one polite live region, never every token.
export function announce(text) {
  const region = $("announcer");
  if (!region || !text.trim()) return;
  region.append(h("p", {}, text));
  while (region.childElementCount > 3) region.firstElementChild.remove();
}
