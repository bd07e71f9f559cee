// One message on the page: its files, its text (Markdown for answers), the line under it and its actions.
import { attachmentList, Chip } from "./attachment-view.js";
import { announce, copyWithFeedback, h } from "./dom.js";
import { _, formatNumber } from "./i18n.js";
import { renderEachInSlices, StreamRenderer } from "./markdown.js";
import { providerLabel } from "./pickers.js";

const CAN_CONTINUE = new Set(["complete", "stopped", "interrupted", "length"]);
// A rate over less time than this says more about the timer than about the model.
const MIN_RATE_SECONDS = 0.25;
const STATUS_NOTES = {
  stopped: () => _("stopped"),
  interrupted: () => _("interrupted"),
  length: () => _("cut at the length limit"),
};

// Tokens per second after the first one, when the provider counted them and the answer lasted long enough to
// tell; null otherwise (a drop-in module's chunks are not tokens).
export function tokensPerSecond(stats) {
  if (!stats?.tokens || stats.tokens < 2 || stats.ttft_ms === null || stats.ttft_ms === undefined) return null;
  const seconds = (stats.duration_ms - stats.ttft_ms) / 1000;
  return seconds < MIN_RATE_SECONDS ? null : (stats.tokens - 1) / seconds;
}

// Who answered and how fast: the message's details, shown on request.
export function detailsText(message) {
  const parts = [[message.provider && providerLabel(message.provider), message.model].filter(Boolean).join(" · ")];
  const stats = message.stats;
  if (stats?.ttft_ms !== null && stats?.ttft_ms !== undefined) {
    parts.push(_("first token in %(ms)s ms", { ms: formatNumber(Math.round(stats.ttft_ms)) }));
  }
  const rate = tokensPerSecond(stats);
  if (rate !== null) parts.push(_("%(rate)s tokens/s", { rate: formatNumber(rate, { decimal: true }) }));
  return parts.filter(Boolean).join(" · ");
}

export class MessageView {
  #message;
  #callbacks;
  // The renderer still at work on the content, if any; #stream while the answer streams.
  #renderer = null;
  #stream = null;
  #rendered = false;
  #detailsShown = false;
  #files;
  #content;
  #foot;
  #element;

  // `message` as the server has it (or as much of it as the page knows yet). The buttons call onRetry(view),
  // onRegenerate(view), onContinue(view), onEdit(view, text, attachments), onShowVersion(messageId) and onStop(); isBusy() says
  // whether a request is running (the buttons that would start one are disabled), isLast(view) whether this message
  // ends the shown branch (only that one offers Continue); onRendered() follows every change of the rendered text.
  constructor(message, { onRetry, onRegenerate, onContinue, onEdit, onShowVersion, onStop, isBusy, isLast, onRendered }) {
    this.#message = message;
    this.#callbacks = { onRetry, onRegenerate, onContinue, onEdit, onShowVersion, onStop, isBusy, isLast, onRendered };
    const isUser = message.role === "user";
    this.#content = h("div", { className: "content raw", dir: "auto" }, message.content);
    this.#foot = h("div", { className: "message-foot" });
    this.#files = attachmentList(message.attachments);
    this.#element = h(
      "article",
      { className: `message ${message.role}`, "aria-label": isUser ? _("Your message") : _("Answer") },
      this.#files,
      this.#content,
      this.#foot,
    );
    this.update(message);
  }

  get element() {
    return this.#element;
  }

  get id() {
    return this.#message.id;
  }

  get text() {
    return this.#message.content;
  }

  get attachments() {
    return this.#message.attachments ?? [];
  }

  get rendered() {
    return this.#rendered;
  }

  // Answers are Markdown; rendering is deferred for old messages far from view (see conversation-view.js).
  render() {
    MessageView.renderEach([this]);
  }

  // render() for each view, the answers among them rendered together (see markdown.js, renderEachInSlices).
  static renderEach(views) {
    const answers = views.filter((view) => view.#startRendering() && view.#message.role === "assistant");
    const items = answers.map((view) => [view.#content, view.#message.content, view.#callbacks.onRendered]);
    renderEachInSlices(items).forEach((renderer, index) => {
      answers[index].#renderer = renderer;
    });
  }

  // Whether the view was still to render; it is not any more.
  #startRendering() {
    if (this.#rendered) return false;
    this.#rendered = true;
    this.#content.classList.remove("raw");
    return true;
  }

  sameAs(message) {
    return this.id === message.id && this.#message.content === message.content && this.#message.status === message.status;
  }

  update(message) {
    this.#message = { ...this.#message, ...message };
    this.#element.dataset.id = this.id ?? "";
    this.#element.classList.toggle("streaming", this.#message.status === "streaming");
    this.#foot.replaceChildren(...this.#footParts());
  }

  #footParts() {
    const { role, status, error } = this.#message;
    const parts = [];
    if (status === "error" && error) {
      // An answer the server could not save yet is not retried: the server saves that very text once it can.
      const retry = error.code !== "storage_failed" &&
        h("button", { type: "button", className: "needs-idle", onclick: () => this.#callbacks.onRetry(this) }, _("Retry"));
      parts.push(h("div", { className: "message-error", role: "alert" }, h("span", {}, error.message), retry));
    }
    const versions = this.#versionSwitcher();
    if (versions) parts.push(versions);
    const meta = role === "assistant" && status !== "streaming" && this.#metaLine();
    if (meta) parts.push(meta);
    parts.push(h("div", { className: "message-actions" }, ...this.#actionButtons(meta)));
    return parts;
  }

  // How the answer ended, when that is news (stopped, cut off), then its details, shown with the Details button.
  #metaLine() {
    const note = STATUS_NOTES[this.#message.status]?.();
    const details = this.#detailsLine(note);
    if (!note && !details) return null;
    return h(
      "span",
      { className: "meta" },
      note && h("span", {}, note),
      details && h("span", { className: "details", hidden: !this.#detailsShown }, details),
    );
  }

  #detailsLine(note) {
    const details = detailsText(this.#message);
    return note && details ? ` · ${details}` : details;
  }

  #toggleDetails(button, details) {
    this.#detailsShown = !this.#detailsShown;
    // Made again: the pickers' names of the providers may have loaded since the line was.
    if (this.#detailsShown) details.textContent = this.#detailsLine(STATUS_NOTES[this.#message.status]?.());
    button.setAttribute("aria-expanded", String(this.#detailsShown));
    details.hidden = !this.#detailsShown;
  }

  #actionButtons(meta) {
    const { role, status } = this.#message;
    const button = (label, onclick, idle = true) =>
      h("button", { type: "button", className: idle ? "small needs-idle" : "small", disabled: idle && this.#callbacks.isBusy(), onclick }, label);
    if (status === "streaming") return [button(_("Stop"), () => this.#callbacks.onStop(), false)];
    // A message without text (a failed answer, files alone) has nothing to copy.
    const copy = this.#message.content ? button(_("Copy"), () => copyWithFeedback(copy, this.#message.content), false) : null;
    // Until the server has given the message its id there is nothing to act on but its text.
    if (!this.id) return [copy];
    if (role === "user") return [copy, button(_("Edit"), () => this.#startEditing())];
    const details = meta?.querySelector(".details");
    const toggle = details && button(_("Details"), () => this.#toggleDetails(toggle, details), false);
    toggle?.setAttribute("aria-expanded", String(Boolean(this.#detailsShown)));
    return [
      copy,
      button(_("Regenerate"), () => this.#callbacks.onRegenerate(this)),
      CAN_CONTINUE.has(status) && this.#callbacks.isLast(this) && button(_("Continue"), () => this.#callbacks.onContinue(this)),
      toggle,
    ];
  }

  #versionSwitcher() {
    const { versions = [], version = 0 } = this.#message;
    if (versions.length < 2) return null;
    // A button at the end of the row stays disabled, so it is not one of the buttons that busy toggles.
    const step = (by, label, text) => {
      const atEnd = !versions[version + by];
      return h(
        "button",
        { type: "button", className: atEnd ? "small" : "small needs-idle", "aria-label": label, disabled: atEnd || this.#callbacks.isBusy(), onclick: () => this.#callbacks.onShowVersion(versions[version + by]) },
        text,
      );
    };
    return h(
      "div",
      { className: "versions", role: "group", "aria-label": _("Version %(n)s of %(total)s", { n: version + 1, total: versions.length }) },
      step(-1, _("Previous version"), "‹"),
      h("span", { "aria-hidden": "true" }, `${version + 1} / ${versions.length}`),
      step(1, _("Next version"), "›"),
    );
  }

  // The edited message carries the files of the one it replaces, less those removed here (they stay with the old one).
  #startEditing() {
    const field = h("textarea", { className: "edit-field", dir: "auto", value: this.#message.content, "aria-label": _("Edit your message") });
    let kept = this.attachments;
    const chips = this.attachments.map((attachment) => {
      const chip = new Chip(attachment.name, () => {
        kept = kept.filter((other) => other !== attachment);
        chip.element.remove();
        field.focus();
      });
      return chip.ready(attachment).element;
    });
    const cancel = () => {
      form.remove();
      this.#showParts(true);
    };
    const form = h(
      "form",
      {
        className: "edit-form",
        onsubmit: (event) => {
          event.preventDefault();
          if (field.value.trim() || kept.length) this.#callbacks.onEdit(this, field.value.trim(), kept);
        },
        // A handler that returns false cancels the event: this one returns nothing, or no key would type.
        onkeydown: (event) => {
          if (event.key === "Escape") cancel();
        },
      },
      chips.length > 0 && h("ul", { className: "attachment-tray", "aria-label": _("Files to send") }, chips),
      field,
      h("div", { className: "edit-buttons" },
        h("button", { type: "submit", className: "small" }, _("Save and send")),
        h("button", { type: "button", className: "small secondary", onclick: cancel }, _("Cancel")),
      ),
    );
    this.#showParts(false);
    this.#element.append(form);
    field.focus();
  }

  // An edit form takes the place of the message's files, text and actions while it is open.
  #showParts(shown) {
    for (const part of [this.#files, this.#content, this.#foot]) if (part) part.hidden = !shown;
  }

  // Streaming: a continued answer keeps its text and grows from it; any other starts empty.
  startStream({ keepText = false } = {}) {
    const base = keepText ? this.#message.content : "";
    this.#rendered = true;
    this.#renderer?.cancel();
    this.#content.classList.remove("raw");
    this.#content.replaceChildren();
    this.update({ status: "streaming", content: base, error: null });
    this.#stream = this.#renderer = new StreamRenderer(this.#content, {
      onSettled: (block) => announce(block.textContent),
      onRendered: this.#callbacks.onRendered,
    });
    this.#stream.append(base);
  }

  appendDelta(text) {
    this.#message.content += text;
    this.#stream.append(text);
  }

  // The server's stored text replaces ours when it knows better (a resumed answer that had already ended).
  replaceText(text) {
    this.#message.content = text;
    this.#stream.reset(text);
  }

  // `stats` of the final frame, when it has any, replace those the message had.
  endStream({ status, stats, error }) {
    this.#stream?.finish(announce);
    this.#stream = null;
    this.update({ status, stats: stats ?? this.#message.stats, error });
  }
}
