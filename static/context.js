// What the model was sent of the conversation: the line above the first message it saw, and the gauge of its context.
import { $, h } from "./dom.js";
import { _, formatNumber, ngettext } from "./i18n.js";

const holds = (limit) =>
  ngettext("the model holds %(limit)s token", "the model holds %(limit)s tokens", limit, { limit: formatNumber(limit) });

// The line's text, or "" when nothing was left out; `context` comes from an answer's start frame or its stored stats.
export function droppedText(context) {
  const n = context?.dropped_messages || 0;
  if (!n) return "";
  const reason = context.limit ? holds(context.limit) : _("they did not fit in the model's context");
  return ngettext(
    "%(n)s earlier message was not sent: %(reason)s",
    "%(n)s earlier messages were not sent: %(reason)s",
    n,
    { n: formatNumber(n), reason },
  );
}

// The index in `texts` (the messages' texts) of the first message the model saw, when `dropped` were left out of
// those before `end`: the server sends only messages with text, so the empty ones (an answer that failed at once) do
// not count.
export function firstSent(texts, end, dropped) {
  let seen = 0;
  for (let index = 0; index < end; index++) {
    if (!texts[index]) continue;
    if (seen === dropped) return index;
    seen++;
  }
  return -1;
}

export function contextNote() {
  return h("p", { className: "context-note", role: "note" });
}

export class ContextGauge {
  #element = $("context-gauge");
  #meter = $("context-meter");
  #text = $("context-text");

  constructor() {
    this.#element.title = _("What the model was sent with the last message, of the tokens its context holds");
  }

  show(context) {
    const { limit, used } = context || {};
    this.#element.hidden = !limit;
    if (!limit) return;
    Object.assign(this.#meter, { max: limit, low: limit * 0.75, high: limit * 0.9, optimum: 0, value: used ?? 0 });
    this.#meter.hidden = used === null || used === undefined;
    this.#text.textContent = this.#meter.hidden
      ? holds(limit)
      : ngettext("%(used)s of %(limit)s token", "%(used)s of %(limit)s tokens", limit, { used: formatNumber(used), limit: formatNumber(limit) });
  }
}
