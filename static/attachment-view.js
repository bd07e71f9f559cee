// How attachments look: a chip (a file to send, in the composer or an edit) and the files a sent message carries,
// its images opening full size in a dialog.
import { attachmentsApi } from "./api.js";
import { h } from "./dom.js";
import { _, formatNumber, formatPercent, formatSize, ngettext } from "./i18n.js";

// The server keeps thumbnails of at most this many pixels a side (docs/api.md).
const THUMBNAIL_SIDE = 320;
const KINDS = { image: () => _("Image"), pdf: () => _("PDF document"), text: () => _("Text file") };

// What an attachment is and how big, for the line under its name: "Image · 640 × 480 · 52 kB".
export function describe(attachment) {
  const parts = [KINDS[attachment.kind]?.() ?? attachment.type];
  if (attachment.width && attachment.height) parts.push(`${formatNumber(attachment.width)}\u00a0×\u00a0${formatNumber(attachment.height)}`);
  if (attachment.pages) parts.push(ngettext("%(n)s page", "%(n)s pages", attachment.pages, { n: formatNumber(attachment.pages) }));
  parts.push(formatSize(attachment.size));
  return parts.join(" · ");
}

const fileIcon = () => h("span", { className: "attachment-icon", "aria-hidden": "true" }, h("span", { className: "i i-file" }));

// An image's thumbnail, laid out at its size before it loads, so that nothing below it moves when it comes.
function thumbnail(attachment, alt) {
  const scale = Math.min(1, THUMBNAIL_SIDE / Math.max(attachment.width || 1, attachment.height || 1));
  return h("img", {
    className: "attachment-thumb",
    src: attachmentsApi.thumbnailUrl(attachment.id),
    alt,
    width: Math.max(1, Math.round((attachment.width || THUMBNAIL_SIDE) * scale)),
    height: Math.max(1, Math.round((attachment.height || THUMBNAIL_SIDE) * scale)),
  });
}

// One file to send: its thumbnail or icon, its name, a line that says how its upload goes or what it is, and a
// button that removes it (onRemove()).
export class Chip {
  #element;
  #preview = h("span", { className: "chip-preview" }, fileIcon());
  #note = h("span", { className: "chip-note" });
  #progress;

  constructor(name, onRemove) {
    this.#progress = h("progress", { className: "chip-progress", max: 1, value: 0, hidden: true, "aria-label": _("Uploading %(name)s", { name }) });
    const remove = _("Remove %(name)s", { name });
    this.#element = h(
      "li",
      { className: "chip" },
      this.#preview,
      h("span", { className: "chip-body" }, h("span", { className: "chip-name", dir: "auto", title: name }, name), this.#note, this.#progress),
      h("button", { type: "button", className: "icon chip-remove", "aria-label": remove, title: remove, onclick: onRemove },
        h("span", { className: "i i-close", "aria-hidden": "true" })),
    );
  }

  get element() {
    return this.#element;
  }

  progress(share) {
    this.#element.dataset.state = "uploading";
    this.#note.textContent = _("Uploading… %(percent)s", { percent: formatPercent(share) });
    this.#progress.value = share;
    this.#progress.hidden = false;
  }

  ready(attachment) {
    this.#element.dataset.state = "ready";
    this.#preview.replaceChildren(attachment.kind === "image" ? thumbnail(attachment, "") : fileIcon());
    this.#note.textContent = describe(attachment);
    this.#progress.hidden = true;
    return this;
  }

  // `message` says in plain words why the file cannot be sent; the chip stays until it is removed.
  failed(message) {
    this.#element.dataset.state = "failed";
    this.#note.textContent = message;
    // Two lines show on the chip (style.css); the whole reason is the note's tooltip.
    this.#note.title = message;
    this.#note.setAttribute("role", "alert");
    this.#progress.hidden = true;
  }

  focusRemove() {
    this.#element.querySelector(".chip-remove").focus();
  }
}

let imageDialog = null;

// The dialog that shows an image full size; a click outside the image or Esc closes it.
function dialogForImages() {
  if (imageDialog) return imageDialog;
  const name = h("span", { className: "image-name", dir: "auto" });
  const open = h("a", { target: "_blank", rel: "noopener" }, _("Open in a new tab"));
  const image = h("img", { className: "image-full", alt: "" });
  const dialog = h(
    "dialog",
    {
      className: "image-dialog",
      // A click on the backdrop is on the dialog itself. Returning false would cancel the click, Close's too.
      onclick: (event) => {
        if (event.target === dialog) dialog.close();
      },
    },
    h("form", { method: "dialog", className: "image-bar" }, name, open,
      h("button", { className: "icon", value: "close", "aria-label": _("Close"), title: _("Close") },
        h("span", { className: "i i-close", "aria-hidden": "true" }))),
    image,
  );
  document.body.append(dialog);
  imageDialog = { dialog, name, open, image };
  return imageDialog;
}

function showImage(attachment) {
  const { dialog, name, open, image } = dialogForImages();
  const url = attachmentsApi.url(attachment.id);
  name.textContent = attachment.name;
  dialog.setAttribute("aria-label", attachment.name);
  open.href = url;
  image.alt = attachment.name;
  image.src = url;
  dialog.showModal();
}

// A plain click opens the dialog; a click that asks for a new tab or window gets one.
function imageLink(attachment) {
  const opensElsewhere = (event) => event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey;
  return h(
    "a",
    {
      className: "attachment-image",
      href: attachmentsApi.url(attachment.id),
      target: "_blank",
      rel: "noopener",
      title: `${attachment.name} · ${describe(attachment)}`,
      onclick: (event) => {
        if (opensElsewhere(event)) return;
        event.preventDefault();
        showImage(attachment);
      },
    },
    thumbnail(attachment, attachment.name),
  );
}

// Any other file is downloaded: the server serves it only as a download.
function fileLink(attachment) {
  return h(
    "a",
    { className: "attachment-file", href: attachmentsApi.url(attachment.id), download: attachment.name },
    fileIcon(),
    h("span", { className: "attachment-text" },
      h("span", { className: "attachment-name", dir: "auto" }, attachment.name),
      h("span", { className: "attachment-meta" }, describe(attachment))),
  );
}

// The files a sent message carries; null when it carries none.
export function attachmentList(attachments) {
  if (!attachments?.length) return null;
  return h(
    "ul",
    { className: "attachments", "aria-label": _("Attached files") },
    attachments.map((attachment) => h("li", {}, attachment.kind === "image" ? imageLink(attachment) : fileLink(attachment))),
  );
}
