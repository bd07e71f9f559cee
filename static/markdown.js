// Markdown for answers: markdown-it (raw HTML off) + highlight.js + KaTeX, always passed through DOMPurify.
import markdownit from "./vendor/markdown-it/markdown-it.js";
import { h, whenIdle } from "./dom.js";
import { CODE, grammarOf, highlight, highlighterReady, highlightWhenLoaded, isCompiled, loadHighlighter } from "./highlighting.js";
import { _ } from "./i18n.js";
import { loadMath, mathPlugin, typeset } from "./math.js";
import { sanitize, sanitizeEach } from "./sanitize.js";

// html: false shows raw HTML from a model as text; markdown-it also refuses javascript:/vbscript:/data: links.
const md = markdownit({ html: false, linkify: true, highlight }).use(mathPlugin);

// For the block still being written: code whose grammar is not compiled yet is shown plain for a frame.
const liveOptions = {
  ...md.options,
  highlight: (code, language) => (isCompiled(language) ? highlight(code, language) : ""),
};

// Schedules the compiling of the grammars `tokens` need that are not compiled yet; returns whether there were any.
function compileLater(tokens) {
  const languages = tokens
    .filter((token) => token.type === "fence")
    .map((token) => md.utils.unescapeAll(token.info).trim().split(/\s+/)[0])
    .filter((language) => grammarOf(language) && !isCompiled(language));
  for (const language of languages) setTimeout(() => highlight("", language));
  return languages.length > 0;
}

// Formulas rendered before KaTeX had loaded (see math.js) are typeset in place once it has.
function typesetWhenLoaded(element, onChange) {
  loadMath().then(() => {
    const sources = element.querySelectorAll(".math-loading");
    for (const source of sources) source.replaceWith(sanitize(typeset(source.textContent, source.dataset.display === "true")));
    if (sources.length) onChange();
  });
}

// What a render before KaTeX or highlight.js had loaded left undone is done in place once they have; `onChange`
// then learns that the element changed size.
function finishWhenLoaded(element, env, onChange) {
  if (env.mathWaiting) typesetWhenLoaded(element, onChange);
  if (!highlighterReady() && element.querySelector(CODE)) highlightWhenLoaded(element, onChange);
}

// The first render runs markdown-it, linkify-it and DOMPurify cold (their code compiled on first use, linkify's
// patterns built): the first frames of a new chat's first answer took 50-80 ms each (bench figure 5). A page that
// has rendered nothing yet does that once, off the page, while it is idle. Never shown, so not translated.
const WARM_UP = `## Heading

Text with **bold**, *emphasis*, \`code\`, a [link](https://example.invalid/) and https://example.invalid/.

- item
1. item

> quote

| a | b |
| --- | ---: |
| 1 | 2 |

\`\`\`python
x = 1
\`\`\`
`;
let warm = false;
whenIdle(() => {
  if (!warm) fill(document.createElement("div"), md.parse(WARM_UP, {}), {});
  // Unheeded if it fails: the next render with code tries again.
  whenIdle(() => loadHighlighter().catch(() => {}));
});

// The element filled with its tokens' HTML. Streaming calls this every frame: the sanitized fragment is handed over
// whole, its nodes moved in one step.
function fill(element, tokens, env, options = md.options) {
  return place(element, sanitize(md.renderer.render(tokens, options, env)));
}

// Each element filled with its tokens' HTML ([element, tokens, env] each), sanitized in one pass.
function fillEach(items) {
  const sanitized = sanitizeEach(items.map(([, tokens, env]) => md.renderer.render(tokens, md.options, env)));
  items.forEach(([element], index) => place(element, ...sanitized[index].childNodes));
}

// The element's children replaced by `nodes`, each code block given its copy button.
function place(element, ...nodes) {
  warm = true;
  element.replaceChildren(...nodes);
  for (const pre of element.querySelectorAll("pre:has(> code)")) {
    pre.prepend(h("button", { type: "button", className: "copy-code", "aria-label": _("Copy the code") }, _("Copy")));
  }
  return element;
}

export function renderMarkdown(element, text, { onChange = () => {} } = {}) {
  renderEach([[element, text, onChange]]);
  return element;
}

// Each text rendered whole into its element ([element, text, onChange] each), as renderMarkdown() renders one.
function renderEach(items) {
  const envs = items.map(() => ({}));
  fillEach(items.map(([element, text], index) => [element, md.parse(text, envs[index]), envs[index]]));
  items.forEach(([element, , onChange], index) => finishWhenLoaded(element, envs[index], onChange));
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

// A render parses a slice of the text past the settled blocks, so that text that comes in one piece (a burst of a
// long answer, a long message opened) renders in several tasks, none of them long: SLICE_CHARS at first, then as
// much as takes about SLICE_MS to render here (a slow or busy machine gets smaller slices), at most twice the last,
// within the bounds below. A block longer than a slice is rendered whole all the same: the reach grows until it
// holds the block. The frames' layout and paint, which grow with the answer, come in tasks of their own.
const SLICE_CHARS = 8_000;
const SLICE_MS = 12;
const SLICE_BOUNDS = [1_000, 32_000];

// Renders a growing answer so that each frame costs only the block still being written: every top-level block
// followed by another one is final, rendered once into the container; only the last block is rendered again.
// `caret`: the block being written ends with a blinking caret (an answer streaming, not a stored one rendering).
export class StreamRenderer {
  constructor(container, { onSettled = () => {}, onRendered = () => {}, caret = true } = {}) {
    this.container = container;
    this.onSettled = onSettled;
    this.onRendered = onRendered;
    this.liveClass = caret ? "block live" : "block";
    this.text = "";
    this.settled = 0;
    this.reach = SLICE_CHARS;
    this.frame = 0;
    this.slice = 0;
    this.live = null;
    this.references = false;
    this.whenFinished = null;
  }

  append(text) {
    this.text += text;
    this.schedule();
  }

  // Starts over with other text (the server's stored copy replaced ours).
  reset(text) {
    this.text = text;
    this.settled = 0;
    this.reach = SLICE_CHARS;
    this.live = null;
    this.references = false;
    this.container.replaceChildren();
    this.schedule();
  }

  // Screen updates are coalesced: many deltas between two frames cost one render (or one slice, already due).
  schedule() {
    if (!this.frame && !this.slice) this.frame = requestAnimationFrame(() => this.render());
  }

  // Where this render's text ends: a slice past the settled blocks, at the end of a line, or the end of the text.
  sliceEnd() {
    const end = this.text.indexOf("\n", this.settled + this.reach);
    return end < 0 ? this.text.length : end + 1;
  }

  // The last render, once the answer has ended and the last slice is reached, highlights all code, compiling what
  // it must.
  render() {
    const started = performance.now();
    this.frame = 0;
    if (!this.live) this.live = this.container.appendChild(h("div", { className: this.liveClass }));
    const end = this.sliceEnd();
    const whole = end === this.text.length;
    const final = whole && this.whenFinished !== null;
    const tail = this.text.slice(this.settled, end);
    const settledBefore = this.settled;
    const env = {};
    let tokens = md.parse(tail, env);
    // Also set by a definition that more text turned into a paragraph: that costs one needless render at the end.
    this.references ||= env.references !== undefined;
    const starts = blockStarts(tokens);
    // Code in a language not compiled yet is shown plain, so it is not settled until it can be highlighted.
    const compiling = !final && compileLater(tokens);
    if (starts.length > 1 && !compiling) {
      // A last block whose first line is still being written may yet join the one before ("1. a\n\n2" becoming
      // "2. b" continues the list), so then that one is not final either.
      const firstLineDone = tail.includes("\n", lineOffset(tail, tokens[starts.at(-1)].map[0]));
      const open = starts.at(firstLineDone ? -1 : -2);
      if (open > 0) {
        const done = fill(h("div"), tokens.slice(0, open), env);
        this.onSettled(done);
        // Settled blocks go straight into the container, as a render of the whole text would put them.
        this.live.before(...done.childNodes);
        this.settled += lineOffset(tail, tokens[open].map[0]);
        tokens = tokens.slice(open);
      }
    }
    fill(this.live, tokens, env, final ? md.options : liveOptions);
    // Settled blocks leave the element they were rendered in, so what waits for the libraries is the whole answer.
    finishWhenLoaded(this.container, env, this.onRendered);
    const spent = performance.now() - started;
    this.onRendered();
    if (!whole) {
      // The text past this slice is rendered next, reaching further if nothing settled here: the block being
      // written is longer than a slice.
      const [least, most] = SLICE_BOUNDS;
      const paced = Math.min(most, Math.max(least, Math.round(this.reach * Math.min(2, SLICE_MS / Math.max(spent, 1)))));
      this.reach = this.settled > settledBefore || compiling ? paced : this.reach * 2;
      // In a task of its own rather than the next frame's, so that the frame's layout and paint do not add to it.
      if (!this.frame && !this.slice) {
        this.slice = setTimeout(() => {
          this.slice = 0;
          this.render();
        });
      }
    } else if (final) {
      this.wrapUp();
    }
  }

  // Ends the answer. What is left renders in slices too; `whenFinished` then gets the text of the block that was
  // still growing, the one part of the answer not yet announced (at once, when the rest fits in one slice).
  finish(whenFinished = () => {}) {
    this.whenFinished = whenFinished;
    this.cancel();
    this.render();
  }

  // No more frames: the container is being given other text.
  cancel() {
    cancelAnimationFrame(this.frame);
    clearTimeout(this.slice);
    this.frame = this.slice = 0;
  }

  wrapUp() {
    const lastBlock = this.live.textContent;
    // Blocks rendered one by one differ from a render of the whole text only when a link reference definition
    // ("[label]: url") serves links in other blocks, above it too. Only such answers are rendered whole again:
    // for a long answer that is one long task.
    if (this.references) renderMarkdown(this.container, this.text, { onChange: this.onRendered });
    else this.live.replaceWith(...this.live.childNodes);
    this.live = null;
    this.onRendered();
    this.whenFinished(lastBlock);
  }
}

// Renders messages' whole texts ([element, text, onChange] each): the short ones at once, together (sanitized in one
// pass), the others in slices, one per frame. Returns the renderers still at work, or null for each rendered.
export function renderEachInSlices(items) {
  const short = ([, text]) => text.length <= SLICE_CHARS;
  renderEach(items.filter(short));
  return items.map((item) => {
    if (short(item)) return null;
    const [element, text, onChange] = item;
    element.replaceChildren();
    const renderer = new StreamRenderer(element, { onRendered: onChange, caret: false });
    renderer.append(text);
    renderer.finish();
    return renderer;
  });
}
