// A markdown-it plugin for TeX: $…$ and \(…\) inline, $$…$$ and \[…\] as display math, typeset by KaTeX.

// KaTeX is 600 KB of script, most of what the page would compile before it can show a conversation, so it is
// fetched only once some text has math; until it has loaded, formulas show their source (see loadMath).
let katex = null;
let loading = null;

const INLINE = [
  ["$$", "$$", true],
  ["\\[", "\\]", true],
  ["\\(", "\\)", false],
  ["$", "$", false],
];
const BLOCK = [
  ["$$", "$$"],
  ["\\[", "\\]"],
];

// throwOnError: false turns bad TeX into a red message instead of an exception; trust stays off (no \href etc.).
export const typeset = (tex, displayMode) =>
  katex.renderToString(tex, { displayMode, throwOnError: false, output: "htmlAndMathml" });

// KaTeX's stylesheet comes with it, not in the page's head, where it would hold up every first paint.
function loadStylesheet(href) {
  return new Promise((loaded, failed) => {
    const link = Object.assign(document.createElement("link"), { rel: "stylesheet", href: href.href });
    link.addEventListener("load", loaded);
    link.addEventListener("error", () => {
      link.remove();
      failed(new Error(`could not load ${href}`));
    });
    document.head.append(link);
  });
}

// Resolves once KaTeX and its stylesheet are there; a failed fetch is tried again by the next formula.
export function loadMath() {
  loading ||= Promise.all([
    import("./vendor/katex/katex.js"),
    loadStylesheet(new URL("./vendor/katex/katex.min.css", import.meta.url)),
  ]).then(
    ([module]) => {
      katex = module.default;
    },
    (error) => {
      loading = null;
      throw error;
    },
  );
  return loading;
}

// Before KaTeX has loaded: the source in a placeholder that markdown.js typesets in place once it has.
function typesetOrWait(md, env, tex, display) {
  if (katex) return typeset(tex, display);
  env.mathWaiting = true;
  loadMath();
  return `<span class="math-loading" data-display="${display}">${md.utils.escapeHtml(tex)}</span>`;
}

// Pandoc's rule keeps prices like "$5 and $10" plain text: no space inside the dollars, no digit right after.
function dollarCloses(src, at) {
  return !/\s/.test(src[at - 1]) && !/\d/.test(src[at + 1] || "");
}

function findClose(src, open, close, from) {
  for (let at = src.indexOf(close, from); at !== -1; at = src.indexOf(close, at + 1)) {
    if (src[at - 1] === "\\" && close === "$") continue;
    if (open !== "$" || dollarCloses(src, at)) return at;
  }
  return -1;
}

function inlineMath(state, silent) {
  const { src, pos } = state;
  const match = INLINE.find(([open]) => src.startsWith(open, pos));
  if (!match) return false;
  const [open, close, display] = match;
  const from = pos + open.length;
  if (open === "$" && /\s|\$/.test(src[from] || " ")) return false;
  const end = findClose(src, open, close, from);
  if (end === -1 || end === from) return false;
  if (!silent) {
    const token = state.push("math_inline", "math", 0);
    token.content = src.slice(from, end);
    token.meta = { display };
  }
  state.pos = end + close.length;
  return true;
}

// An unclosed block runs to the end of the text, like an unclosed code fence, so a streaming formula stays one block.
function blockMath(state, startLine, endLine, silent) {
  if (state.sCount[startLine] - state.blkIndent >= 4) return false;
  const lineText = (line) => state.src.slice(state.bMarks[line] + state.tShift[line], state.eMarks[line]);
  const first = lineText(startLine);
  const match = BLOCK.find(([open]) => first.startsWith(open));
  if (!match) return false;
  if (silent) return true;
  const [open, close] = match;
  const lines = [first.slice(open.length)];
  let line = startLine;
  let closed = lines[0].trimEnd().endsWith(close);
  // "$$x$$ and more" on one line is inline math inside a paragraph.
  if (!closed && lines[0].includes(close)) return false;
  while (!closed && ++line < endLine) {
    lines.push(lineText(line));
    closed = lines.at(-1).trimEnd().endsWith(close);
  }
  const content = lines.join("\n").trimEnd();
  const token = state.push("math_block", "math", 0);
  token.block = true;
  token.content = closed ? content.slice(0, -close.length) : content;
  token.meta = { closed };
  token.map = [startLine, Math.min(line, endLine - 1) + 1];
  state.line = Math.min(line, endLine - 1) + 1;
  return true;
}

export function mathPlugin(md) {
  md.inline.ruler.before("escape", "math_inline", inlineMath);
  md.block.ruler.before("fence", "math_block", blockMath, { alt: ["paragraph", "reference", "blockquote", "list"] });
  md.renderer.rules.math_inline = (tokens, idx, options, env) =>
    typesetOrWait(md, env, tokens[idx].content, tokens[idx].meta.display);
  // A formula still being written is shown as its source: typesetting half of it would flash KaTeX errors.
  md.renderer.rules.math_block = (tokens, idx, options, env) => {
    const { content, meta } = tokens[idx];
    if (!meta.closed) return `<pre class="math-pending">${md.utils.escapeHtml(content)}</pre>\n`;
    return `<div class="math-block">${typesetOrWait(md, env, content, true)}</div>\n`;
  };
}
