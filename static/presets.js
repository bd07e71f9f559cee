// Presets (GET/POST /api/presets): the picker on a new chat's screen, which starts from the user's default, and
// saving the settings panel's values as a new preset.
import { request } from "./api.js";
import { $ } from "./dom.js";
import { _ } from "./i18n.js";

export class Presets {
  #presets = [];
  #row = $("preset-picker");
  #select = $("preset");
  #onPick;
  #settings;
  #newChat = false;

  // onPick(preset or null) fills a new chat's settings; settings: check(), options() and systemPrompt() of the panel.
  // notify(text) shows a page-level message.
  constructor({ onPick, settings, notify }) {
    this.#onPick = onPick;
    this.#settings = settings;
    this.#select.addEventListener("change", () => {
      this.#showDelete();
      this.#onPick(this.#chosen());
    });
    $("preset-save").addEventListener("click", () => this.#saveCurrent());
    $("preset-delete").addEventListener("click", () => this.#deleteChosen(notify));
  }

  async load() {
    try {
      this.#presets = (await request("GET", "api/presets")).presets;
    } catch {
      this.#presets = [];
    }
    this.#fill();
  }

  // The preset a new chat starts from: the user's default, if any.
  default() {
    return this.#presets.find((preset) => preset.default) ?? null;
  }

  // The picker is on a new chat's screen only, set to the default each time one starts.
  showPicker(shown) {
    this.#newChat = shown;
    this.#row.hidden = !shown || this.#presets.length === 0;
    if (shown) this.#select.value = this.default()?.id ?? "";
    this.#showDelete();
  }

  #showDelete() {
    $("preset-delete").hidden = !this.#select.value;
  }

  // The settings already taken from the preset stay as they are; a refusal (a shared preset, for anyone but an
  // admin) is said on the page.
  async #deleteChosen(notify) {
    const preset = this.#chosen();
    if (!preset) return;
    try {
      await request("DELETE", `api/presets/${encodeURIComponent(preset.id)}`);
      await this.load();
      this.showPicker(this.#newChat);
    } catch (error) {
      notify(error.message);
    }
  }

  #chosen() {
    return this.#presets.find((preset) => preset.id === this.#select.value) ?? null;
  }

  #fill() {
    const label = (preset) => (preset.shared ? _("%(name)s (shared)", { name: preset.name }) : preset.name);
    this.#select.replaceChildren(
      new Option(_("No preset"), ""),
      ...this.#presets.map((preset) => new Option(label(preset), preset.id, false, preset.default)),
    );
  }

  async #saveCurrent() {
    const status = $("preset-status");
    const name = $("preset-name");
    if (!this.#settings.check()) {
      status.textContent = _("Not saved: correct the marked fields.");
      return;
    }
    const preset = {
      name: name.value,
      system_prompt: this.#settings.systemPrompt(),
      options: this.#settings.options(),
      default: $("preset-default").checked,
    };
    try {
      await request("POST", "api/presets", preset);
      status.textContent = _("Preset saved");
      name.value = "";
      const picked = this.#select.value;
      await this.load();
      this.#select.value = picked;
      this.#row.hidden = !this.#newChat;
      this.#showDelete();
    } catch (error) {
      status.textContent = error.message;
    }
  }
}
