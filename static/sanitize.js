// Model output made safe for the page: DOMPurify with the page's settings, for one text's HTML or several at once.
import DOMPurify from "./vendor/dompurify/purify.js";

// Links from model output open elsewhere and learn nothing about this page.
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

// The sanitized nodes are used as they are, not serialized for innerHTML to parse all over again.
const PURIFY = { FORBID_TAGS: ["style", "form", "input", "button", "textarea"], RETURN_DOM_FRAGMENT: true };
export const sanitize = (html) => DOMPurify.sanitize(html, PURIFY);

// The HTML of several texts sanitized in one pass: a node for each, holding that text's nodes. DOMPurify parses a new
// document for each call, most of what a short answer costs (a conversation opens hundreds). markdown-it's HTML is
// balanced, so each text's wrapper holds its own nodes only; that is checked, and otherwise each is sanitized alone.
export function sanitizeEach(htmls) {
  if (htmls.length > 1) {
    const all = sanitize(htmls.map((html) => `<div>${html}</div>`).join(""));
    if (all.childNodes.length === htmls.length && all.children.length === htmls.length) return [...all.children];
  }
  return htmls.map(sanitize);
}
