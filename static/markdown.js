// Markdown for answers: markdown-it (raw HTML off) + highlight.js + KaTeX, always passed through DOMPurify.
import DOMPurify from "./vendor/dompurify/purify.js";
import hljs from "./vendor/highlight.js/highlight.js";
import markdownit from "./vendor/markdown-it/markdown-it.js";
import { h } from "./dom.js";
import { _ } from "./i18n.js";
import { mathPlugin } from "./math.js";

function highlight(code, language) {
  if (!language || !hljs.getLanguage(language)) return "";
  return hljs.highlight(code, { language, ignoreIllegals: true }).value;
}

// html: false shows raw HTML from a model as text; markdown-it also refuses javascript:/vbscript:/data: links.
const md = markdownit({ html: false, linkify: true, highlight }).use(mathPlugin);

// Links from model output open elsewhere and learn nothing about this page.
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

const sanitize = (html) => DOMPurify.sanitize(html, { FORBID_TAGS: ["style", "form", "input", "button", "textarea"] });

function fill(element, tokens, env) {
  element.innerHTML = sanitize(md.renderer.render(tokens, md.options, env));
  for (const pre of element.querySelectorAll("pre:has(> code)")) {
    pre.prepend(h("button", { type: "button", className: "copy-code", "aria-label": _("Copy the code") }, _("Copy")));
  }
  return element;
}

export function renderMarkdown(element, text) {
  const env = {};
  return fill(element, md.parse(text, env), env);
}

// Index of each top-level block's first token.
function blockStarts(tokens) {
  return tokens.flatMap((token, index) => (token.level === 0 && token.nesting !== -1 ? [index] : []));
}

function lineOffset(text, line) {
  let offset = 0;
  for (let n = 0; n < line; n++) offset = text.indexOf("\n", offset) + 1;
  return offset;
}

// Renders a growing answer so that each frame costs only the block still being written: every top-level block
// followed by another one is final, rendered once into its own element; only the last block is rendered again.
// A final render of the whole text at the end settles what streaming cannot know (links to definitions below).
export class StreamRenderer {
  constructor(container, { onSettled = () => {}, onRendered = () => {} } = {}) {
    this.container = container;
    this.onSettled = onSettled;
    this.onRendered = onRendered;
    this.text = "";
    this.settled = 0;
    this.frame = 0;
    this.live = null;
  }

  append(text) {
    this.text += text;
    this.schedule();
  }

  // Starts over with other text (the server's stored copy replaced ours).
  reset(text) {
    this.text = text;
    this.settled = 0;
    this.live = null;
    this.container.replaceChildren();
    this.schedule();
  }

  // Screen updates are coalesced: many deltas between two frames cost one render.
  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  render() {
    this.frame = 0;
    if (!this.live) this.live = this.container.appendChild(h("div", { className: "block live" }));
    const tail = this.text.slice(this.settled);
    const env = {};
    let tokens = md.parse(tail, env);
    const starts = blockStarts(tokens);
    if (starts.length > 1) {
      const last = starts.at(-1);
      const done = fill(h("div", { className: "block" }), tokens.slice(0, last), env);
      this.live.before(done);
      this.onSettled(done);
      this.settled += lineOffset(tail, tokens[last].map[0]);
      tokens = tokens.slice(last);
    }
    fill(this.live, tokens, env);
    this.onRendered();
  }

  // Returns the text of the block that was still growing, the one part of the answer not yet announced.
  finish() {
    cancelAnimationFrame(this.frame);
    this.render();
    const lastBlock = this.live.textContent;
    renderMarkdown(this.container, this.text);
    this.live = null;
    this.onRendered();
    return lastBlock;
  }
}
