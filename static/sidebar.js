// The conversations list: open, search, rename, delete, import; a drawer on narrow screens.
import { appUrl, conversationsApi } from "./api.js";
import { $, confirmDialog, h } from "./dom.js";
import { _ } from "./i18n.js";

const SEARCH_AFTER_MS = 250;

const icon = (name) => h("span", { className: `i i-${name}`, "aria-hidden": "true" });

// The groups of the list, newest first: a conversation belongs to the first whose day it last changed is in
// (days in the reader's time zone).
function dateGroups(now = new Date()) {
  const dayStart = (daysAgo) => new Date(now.getFullYear(), now.getMonth(), now.getDate() - daysAgo).getTime();
  return [
    { since: dayStart(0), label: _("Today") },
    { since: dayStart(1), label: _("Yesterday") },
    { since: dayStart(7), label: _("Previous 7 days") },
    { since: -Infinity, label: _("Older") },
  ];
}

export class Sidebar {
  #onOpen;
  #onNew;
  #onTitle;
  #notify;
  #list = $("conversations");
  #search = $("search");
  #more = $("more-conversations");
  #empty = $("no-conversations");
  #conversations = [];
  #current = null;
  #next = null;
  #timer = 0;
  #renaming = false;

  // onOpen(id) opens a conversation; onNew() starts an empty one; onTitle(id, title) tells the server's title of a
  // conversation, after a rename and whenever the list shows the open one; notify(text) shows a page-level message.
  constructor({ onOpen, onNew, onTitle, notify }) {
    this.#onOpen = onOpen;
    this.#onNew = onNew;
    this.#onTitle = onTitle;
    this.#notify = notify;
    this.#search.addEventListener("input", () => {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.refresh(), SEARCH_AFTER_MS);
    });
    this.#more.addEventListener("click", () => this.refresh({ append: true }));
    for (const button of [$("new-chat"), $("header-new-chat")]) {
      button.addEventListener("click", () => {
        this.#closeDrawer();
        this.#onNew();
      });
    }
    $("import").addEventListener("change", (event) => this.#importFile(event.target));
    $("open-sidebar").addEventListener("click", () => this.#openDrawer());
    $("close-sidebar").addEventListener("click", () => this.#closeDrawer());
    $("backdrop").addEventListener("click", () => this.#closeDrawer());
    // Capture phase: Esc closes an open drawer before it can mean "stop the answer". An Esc in a dialog (opened from
    // the drawer) closes only that dialog.
    document.addEventListener(
      "keydown",
      (event) => {
        if (event.key === "Escape" && document.body.classList.contains("drawer-open") && !document.querySelector("dialog[open]")) {
          event.stopPropagation();
          this.#closeDrawer();
        }
      },
      { capture: true },
    );
  }

  async refresh({ append = false } = {}) {
    const query = this.#search.value.trim();
    try {
      const page = await conversationsApi.list(query, append ? this.#next : "");
      // A refresh (an answer ending, say) would throw away a title being typed; finishing the edit refreshes.
      if (this.#renaming && !append) return;
      this.#next = page.next;
      this.#conversations = append ? [...this.#conversations, ...page.conversations] : page.conversations;
      this.#render();
      this.#more.hidden = !this.#next;
      this.#empty.hidden = this.#conversations.length > 0;
      this.#empty.textContent = query ? _("Nothing found") : _("No conversations yet.");
      const open = this.#conversations.find((conversation) => conversation.id === this.#current);
      if (open) this.#onTitle(open.id, open.title);
    } catch (error) {
      this.#notify(error.message);
    }
  }

  // The list comes newest first, so each group's conversations keep their order.
  #render() {
    const groups = dateGroups().map((group) => ({ ...group, items: [] }));
    for (const conversation of this.#conversations) {
      const changed = Date.parse(conversation.updated_at);
      (groups.find((group) => changed >= group.since) ?? groups[0]).items.push(this.#item(conversation));
    }
    const sections = groups
      .filter((group) => group.items.length)
      .map((group, index) =>
        h(
          "section",
          { className: "conversation-group", "aria-labelledby": `conversation-group-${index}` },
          h("h2", { id: `conversation-group-${index}`, className: "group-title" }, group.label),
          h("ul", { className: "conversations" }, group.items),
        ),
      );
    this.#list.replaceChildren(...sections);
  }

  #item(conversation) {
    const title = conversation.title || _("New conversation");
    const link = h("a", { href: appUrl(`c/${encodeURIComponent(conversation.id)}`).pathname, className: "conversation-link", dir: "auto" }, title);
    if (conversation.id === this.#current) link.setAttribute("aria-current", "page");
    link.addEventListener("click", (event) => {
      if (event.ctrlKey || event.metaKey || event.shiftKey) return;
      event.preventDefault();
      this.#closeDrawer();
      this.#onOpen(conversation.id);
    });
    const rename = h("button", { type: "button", className: "icon", "aria-label": _("Rename “%(title)s”", { title }), title: _("Rename") }, icon("edit"));
    const remove = h("button", { type: "button", className: "icon", "aria-label": _("Delete “%(title)s”", { title }), title: _("Delete") }, icon("delete"));
    const item = h("li", { className: "conversation" }, link, h("div", { className: "conversation-actions" }, rename, remove));
    item.dataset.id = conversation.id;
    rename.addEventListener("click", () => this.#rename(item, conversation));
    remove.addEventListener("click", () => this.#remove(conversation, title));
    return item;
  }

  setCurrent(id) {
    this.#current = id;
    for (const link of this.#list.querySelectorAll(".conversation-link")) {
      if (link.parentElement.dataset.id === id) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  #rename(item, conversation) {
    const field = h("input", { type: "text", value: conversation.title, className: "rename-field", dir: "auto", "aria-label": _("New title"), maxLength: 200 });
    let done = false;
    const finish = async (save) => {
      if (done) return;
      done = true;
      this.#renaming = false;
      if (save && field.value.trim() && field.value.trim() !== conversation.title) {
        try {
          await conversationsApi.update(conversation.id, { title: field.value.trim() });
          this.#onTitle(conversation.id, field.value.trim());
        } catch (error) {
          this.#notify(error.message);
        }
      }
      await this.refresh();
      this.#list.querySelector(`[data-id="${CSS.escape(conversation.id)}"] .conversation-link`)?.focus();
    };
    field.addEventListener("keydown", (event) => {
      if (event.key === "Enter") finish(true);
      if (event.key === "Escape") {
        event.stopPropagation();
        finish(false);
      }
    });
    field.addEventListener("blur", () => finish(true));
    this.#renaming = true;
    item.replaceChildren(field);
    field.focus();
    field.select();
  }

  async #remove(conversation, title) {
    if (!(await confirmDialog(_("Delete “%(title)s”? This cannot be undone.", { title })))) return;
    try {
      await conversationsApi.remove(conversation.id);
    } catch (error) {
      this.#notify(error.message);
      return;
    }
    if (conversation.id === this.#current) this.#onNew();
    this.refresh();
  }

  async #importFile(input) {
    const [file] = input.files;
    input.value = "";
    if (!file) return;
    try {
      const created = await conversationsApi.import(JSON.parse(await file.text()));
      this.#closeDrawer();
      await this.refresh();
      this.#onOpen(created.id);
    } catch (error) {
      const reason = error instanceof SyntaxError ? _("it is not a JSON file") : error.message;
      this.#notify(_("%(file)s could not be imported: %(error)s", { file: file.name, error: reason }));
    }
  }

  // The open drawer is modal: the page behind it is inert, so focus and screen readers stay in the list.
  #openDrawer() {
    document.body.classList.add("drawer-open");
    document.querySelector(".main").inert = true;
    $("open-sidebar").setAttribute("aria-expanded", "true");
    $("new-chat").focus();
  }

  #closeDrawer() {
    if (!document.body.classList.contains("drawer-open")) return;
    document.body.classList.remove("drawer-open");
    document.querySelector(".main").inert = false;
    $("open-sidebar").setAttribute("aria-expanded", "false");
    $("open-sidebar").focus();
  }
}
