// The settings of the open conversation: system prompt and generation options, saved with the conversation.
import { conversationsApi } from "./api.js";
import { $ } from "./dom.js";
import { _ } from "./i18n.js";

const SAVE_AFTER_MS = 600;

export class Settings {
  #conversationId;
  #panel = $("settings");
  #toggle = $("settings-toggle");
  #prompt = $("system-prompt");
  #fields;
  #saved = $("settings-saved");
  #timer = 0;

  constructor({ conversationId }) {
    this.#conversationId = conversationId;
    this.#fields = [...this.#panel.querySelectorAll("[data-option]")];
    this.#toggle.addEventListener("click", () => this.#show(this.#panel.hidden));
    $("settings-close").addEventListener("click", () => this.#show(false));
    this.#panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        this.#show(false);
      }
    });
    this.#panel.addEventListener("input", () => this.#saveSoon());
  }

  #show(open) {
    this.#panel.hidden = !open;
    this.#toggle.setAttribute("aria-expanded", String(open));
    (open ? this.#prompt : this.#toggle).focus();
  }

  // Empty fields mean "the provider's default"; out-of-range ones are left out (the field shows it is invalid).
  options() {
    const options = {};
    for (const field of this.#fields) {
      if (field.value !== "" && field.checkValidity()) options[field.dataset.option] = Number(field.value);
    }
    return options;
  }

  forNewConversation() {
    return this.#prompt.value.trim() ? { system_prompt: this.#prompt.value } : {};
  }

  load(conversation) {
    this.#prompt.value = conversation?.system_prompt || "";
    const options = conversation?.options || {};
    for (const field of this.#fields) field.value = options[field.dataset.option] ?? "";
    this.#saved.textContent = "";
    this.#showExports(conversation);
  }

  // The first message created the conversation: what was chosen before it is saved with it.
  attach(conversation) {
    this.#showExports(conversation);
    this.#save();
  }

  #showExports(conversation) {
    $("export").hidden = !conversation;
    if (!conversation) return;
    for (const link of $("export").querySelectorAll("a[data-export]")) {
      link.href = conversationsApi.exportUrl(conversation.id, link.dataset.export);
    }
  }

  #saveSoon() {
    clearTimeout(this.#timer);
    this.#saved.textContent = "";
    this.#timer = setTimeout(() => this.#save(), SAVE_AFTER_MS);
  }

  // A new conversation has nothing to save into yet: its first message carries the settings.
  async #save() {
    const id = this.#conversationId();
    if (!id) return;
    try {
      await conversationsApi.update(id, { system_prompt: this.#prompt.value, options: this.options() });
      this.#saved.textContent = _("Saved");
    } catch (error) {
      this.#saved.textContent = error.message;
    }
  }
}
