// The settings of the open conversation: system prompt and generation options, saved with the conversation.
import { conversationsApi } from "./api.js";
import { $ } from "./dom.js";
import { _, formatNumber } from "./i18n.js";

const SAVE_AFTER_MS = 600;
// As the server's options: at most this many stop sequences (webui/chat/options.py).
const MAX_STOP_SEQUENCES = 4;

const stopSequences = (text) => text.split("\n").filter((line) => line !== "");

// What is wrong with a field's value, in the page's language, or "" (an empty field is the provider's default).
function fieldError(field) {
  if (field.dataset.option === "stop") {
    return stopSequences(field.value).length > MAX_STOP_SEQUENCES ? _("At most %(n)s stop sequences.", { n: MAX_STOP_SEQUENCES }) : "";
  }
  if (field.value === "" && !field.validity.badInput) return "";
  const value = Number(field.value);
  const [low, high] = [Number(field.min), Number(field.max)];
  const whole = field.step === "1";
  if (field.value !== "" && Number.isFinite(value) && low <= value && value <= high && (!whole || Number.isInteger(value))) return "";
  const values = { name: field.dataset.label, low: formatNumber(low), high: formatNumber(high) };
  return whole ? _("%(name)s must be a whole number from %(low)s to %(high)s.", values) : _("%(name)s must be a number from %(low)s to %(high)s.", values);
}

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
    this.#panel.addEventListener("input", (event) => {
      if (event.target === this.#prompt || this.#fields.includes(event.target)) this.#saveSoon();
    });
    this.showDefaults({});
  }

  #show(open) {
    this.#panel.hidden = !open;
    this.#toggle.setAttribute("aria-expanded", String(open));
    (open ? this.#prompt : this.#toggle).focus();
  }

  // Beside each field, what a request that leaves it empty gets: the provider's value where the server knows it.
  showDefaults(defaults) {
    for (const field of this.#fields) {
      const value = defaults[field.dataset.option];
      const shown = typeof value === "number" ? formatNumber(value) : null;
      $(`default-${field.dataset.option}`).textContent = shown === null ? _("provider default") : _("%(value)s — provider default", { value: shown });
    }
  }

  // Marks each field whose value the server would refuse; whether all are valid.
  check() {
    let valid = true;
    for (const field of this.#fields) {
      const error = fieldError(field);
      $(`error-${field.dataset.option}`).textContent = error;
      field.setAttribute("aria-invalid", String(Boolean(error)));
      valid &&= !error;
    }
    return valid;
  }

  // Empty fields mean "the provider's default"; invalid ones are left out (the field says what is wrong).
  options() {
    const options = {};
    for (const field of this.#fields) {
      if (field.value === "" || fieldError(field)) continue;
      const name = field.dataset.option;
      if (name !== "stop") options[name] = Number(field.value);
      else if (stopSequences(field.value).length) options[name] = stopSequences(field.value);
    }
    return options;
  }

  systemPrompt() {
    return this.#prompt.value;
  }

  forNewConversation() {
    return this.#prompt.value.trim() ? { system_prompt: this.#prompt.value } : {};
  }

  // An open conversation shows its own settings; a new one starts from a preset, or from none.
  load(conversation, preset = null) {
    const source = conversation ?? preset;
    this.#prompt.value = source?.system_prompt || "";
    const options = source?.options || {};
    for (const field of this.#fields) {
      const value = options[field.dataset.option];
      field.value = Array.isArray(value) ? value.join("\n") : (value ?? "");
    }
    this.check();
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
    this.check();
    this.#timer = setTimeout(() => this.#save(), SAVE_AFTER_MS);
  }

  // A new conversation has nothing to save into yet: its first message carries the settings. A value the server
  // would refuse is not saved, and the panel says so rather than "Saved".
  async #save() {
    const id = this.#conversationId();
    if (!id) return;
    if (!this.check()) {
      this.#saved.textContent = _("Not saved: correct the marked fields.");
      return;
    }
    try {
      await conversationsApi.update(id, { system_prompt: this.#prompt.value, options: this.options() });
      this.#saved.textContent = _("Saved");
    } catch (error) {
      this.#saved.textContent = error.message;
    }
  }
}
