// The files the next message is to carry: attached with the paperclip, dropped onto the page or pasted, each
// uploaded at once (docs/api.md) and shown as a chip until the message is sent.
import { attachmentsApi } from "./api.js";
import { Chip } from "./attachment-view.js";
import { $ } from "./dom.js";
import { _, formatSize, ngettext } from "./i18n.js";

const DRAG_EVENTS = ["dragenter", "dragover", "dragleave", "drop"];

// Where a paste is text for a field, not files for the message: any field to type in but the message box.
const typedInto = (target) => target !== $("input") && target.closest?.("input, textarea, select, [contenteditable]");

export class AttachmentTray {
  #list = $("attachments");
  #input = $("attach-input");
  #dropZone = $("drop-zone");
  #notify;
  #onChange;
  #max;
  #maxBytes;
  // One entry per chip, in order: {chip, controller, attachment once uploaded, failed once refused}.
  #uploads = [];
  // Drag events enter and leave every element on the way: the files are over the page while more came in than out.
  #dragDepth = 0;

  // notify(text) shows a message by the composer; onChange() follows every change of what uploading() and
  // attachments() say; max: the files a message may carry; maxBytes: the largest file the server takes.
  constructor({ notify, onChange, max, maxBytes }) {
    this.#notify = notify;
    this.#onChange = onChange;
    this.#max = max;
    this.#maxBytes = maxBytes;
    this.#input.addEventListener("change", () => {
      this.add([...this.#input.files]);
      this.#input.value = "";
    });
    document.addEventListener("paste", (event) => this.#pasted(event));
    for (const type of DRAG_EVENTS) document.addEventListener(type, (event) => this.#dragged(event));
  }

  uploading() {
    return this.#uploads.some((upload) => !upload.attachment && !upload.failed);
  }

  // Why the first refused file cannot be sent (the reason names it), its chip scrolled into view, as a phone's tray
  // scrolls sideways; null when no file was refused.
  failure() {
    const upload = this.#uploads.find((upload) => upload.failed);
    upload?.chip.element.scrollIntoView({ block: "nearest", inline: "nearest" });
    return upload ? upload.failure : null;
  }

  // The uploaded files, in the order they were attached.
  attachments() {
    return this.#uploads.filter((upload) => upload.attachment).map((upload) => upload.attachment);
  }

  // Uploads each file, as many as the message still has room for; a file refused keeps its chip, with why.
  add(files) {
    const room = Math.max(0, this.#max - this.#uploads.filter((upload) => !upload.failed).length);
    if (files.length > room) {
      this.#notify(
        [
          ngettext("A message may carry at most %(n)s file.", "A message may carry at most %(n)s files.", this.#max, { n: this.#max }),
          ngettext("%(n)s file was not attached.", "%(n)s files were not attached.", files.length - room, { n: files.length - room }),
        ].join(" "),
      );
    }
    files.slice(0, room).forEach((file) => this.#upload(file));
  }

  // Chips for files already uploaded, when the tray is empty: a message the server refused gives its files back.
  restore(attachments) {
    if (this.#uploads.length) return;
    for (const attachment of attachments) this.#entry(attachment.name).attachment = attachment;
    this.#uploads.forEach((upload) => upload.chip.ready(upload.attachment));
    this.#changed();
  }

  // The message that carried them was sent: the files are the message's now, not uploads to delete.
  clear() {
    this.#uploads = [];
    this.#list.replaceChildren();
    this.#changed();
  }

  #entry(name) {
    const upload = { chip: null, controller: new AbortController(), attachment: null, failed: false, failure: null };
    upload.chip = new Chip(name, () => this.#remove(upload));
    this.#uploads.push(upload);
    this.#list.append(upload.chip.element);
    return upload;
  }

  async #upload(file) {
    const upload = this.#entry(file.name);
    if (file.size > this.#maxBytes) {
      this.#fail(upload, _("“%(name)s” is larger than %(size)s, the most a file may be.", { name: file.name, size: formatSize(this.#maxBytes) }));
      return;
    }
    upload.chip.progress(0);
    this.#changed();
    try {
      upload.attachment = await attachmentsApi.upload(file, { onProgress: (share) => upload.chip.progress(share), signal: upload.controller.signal });
      upload.chip.ready(upload.attachment);
      this.#changed();
    } catch (error) {
      // A chip removed while its file was uploading is gone already.
      if (!upload.controller.signal.aborted) this.#fail(upload, error.message);
    }
  }

  #fail(upload, message) {
    upload.failed = true;
    upload.failure = message;
    upload.chip.failed(message);
    this.#changed();
  }

  // The focus goes to the next chip's remove button, or the message box when none is left.
  #remove(upload) {
    const index = this.#uploads.indexOf(upload);
    this.#uploads.splice(index, 1);
    upload.chip.element.remove();
    upload.controller.abort();
    // An upload no message carries is deleted by the server a day after it came, should this request fail.
    if (upload.attachment) attachmentsApi.remove(upload.attachment.id).catch(() => {});
    const next = this.#uploads[Math.min(index, this.#uploads.length - 1)];
    if (next) next.chip.focusRemove();
    else $("input").focus();
    this.#changed();
  }

  #changed() {
    this.#list.hidden = !this.#uploads.length;
    this.#onChange();
  }

  // Files pasted (an image copied to the clipboard, files copied in a file manager) are attached; text is pasted.
  #pasted(event) {
    const files = [...(event.clipboardData?.files ?? [])];
    if (!files.length || typedInto(event.target) || document.querySelector("dialog[open]")) return;
    event.preventDefault();
    this.add(files);
  }

  // Files dragged over the page show where they go, and are attached where they are dropped. A file input (the
  // sidebar's import) takes files dropped on it itself.
  #dragged(event) {
    const files = event.dataTransfer?.types.includes("Files");
    if (!files || event.target.closest?.("input[type=file]") || document.querySelector("dialog[open]")) return;
    event.preventDefault();
    if (event.type === "dragenter") this.#dragDepth++;
    else if (event.type === "dragleave") this.#dragDepth--;
    else if (event.type === "drop") {
      this.#dragDepth = 0;
      this.add([...event.dataTransfer.files]);
    } else event.dataTransfer.dropEffect = "copy";
    this.#dropZone.hidden = this.#dragDepth <= 0;
  }
}
