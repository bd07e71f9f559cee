// Code in answers highlighted by highlight.js, which loads after the page's start: what was rendered before it had
// loaded is highlighted in place.
import { sanitize } from "./sanitize.js";

// highlight.js takes tens of milliseconds to evaluate (it registers every grammar it bundles), too long for the
// page's start: it is imported when code first needs it, or else once the page has been idle after the Markdown
// warm-up (markdown.js), before a first answer is likely. Code rendered before it has loaded is shown plain, then
// highlighted in place (highlightWhenLoaded). An import that failed (the connection dropped) is tried again by the
// next render with code.
let hljs = null;
let highlighterLoaded = null;
export const loadHighlighter = () =>
  (highlighterLoaded ??= import("./vendor/highlight.js/highlight.js").then(
    (module) => {
      hljs = module.default;
    },
    (error) => {
      highlighterLoaded = null;
      throw error;
    },
  ));
export const grammarOf = (language) => hljs?.getLanguage(language);
export const highlighterReady = () => hljs !== null;

// Grammars highlight.js has compiled. It compiles one on first use, in tens of milliseconds for some: too long to
// share a frame with a render, so streaming gives each its own task (markdown.js, compileLater).
const compiled = new WeakSet();
export const isCompiled = (language) => compiled.has(grammarOf(language));

// The highlighted HTML of `code` (unsanitized), or "" for a language highlight.js does not know (or not yet).
export function highlight(code, language) {
  const grammar = language && grammarOf(language);
  if (!grammar) return "";
  compiled.add(grammar);
  return hljs.highlight(code, { language, ignoreIllegals: true }).value;
}

// markdown-it names a fenced block's language in its class, as its `langPrefix` (left at its default) + the language.
const LANG_PREFIX = "language-";
export const CODE = `pre > code[class^='${LANG_PREFIX}']`;
const languageOf = (code) => code.className.slice(LANG_PREFIX.length);

// Code rendered before highlight.js had loaded, with the element it was rendered into and whom to tell: each block
// is highlighted once, however many renders of its answer waited, a few milliseconds of them per task (a long
// answer has hundreds).
const unhighlighted = new Map();
const HIGHLIGHT_BUDGET_MS = 20;
let highlighting = false;

export function highlightWhenLoaded(element, onChange) {
  for (const code of element.querySelectorAll(CODE)) unhighlighted.set(code, [element, onChange]);
  if (!highlighting) {
    highlighting = true;
    loadHighlighter().then(highlightWaiting, () => {
      highlighting = false;
    });
  }
}

function highlightWaiting() {
  const end = performance.now() + HIGHLIGHT_BUDGET_MS;
  const changed = new Set();
  for (const [code, [element, onChange]] of unhighlighted) {
    if (performance.now() > end) break;
    unhighlighted.delete(code);
    // A block that a later render of a growing answer replaced has left its element.
    if (!element.contains(code) || !grammarOf(languageOf(code))) continue;
    code.replaceChildren(sanitize(highlight(code.textContent, languageOf(code))));
    changed.add(onChange);
  }
  changed.forEach((onChange) => onChange());
  if (unhighlighted.size) setTimeout(highlightWaiting);
  else highlighting = false;
}
