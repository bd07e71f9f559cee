// Presets (GET/POST/PATCH/DELETE /api/presets): the picker on a new chat's screen, which starts from the user's default
// and lets them make the chosen preset their default or delete their own; an admin also shares presets with everyone
// (and deletes shared ones). Saving the settings panel's values as a new preset.
import { request } from "./api.js";
import { $ } from "./dom.js";
import { _ } from "./i18n.js";

const presetUrl = (preset) => `api/presets/${encodeURIComponent(preset.id)}`;

export class Presets {
  #presets = [];
  // Whether the person at the page may change what everyone sees, as the page was rendered for them (templates/index.html
  // shows the admin's controls); the server checks again at each change.
  #admin = document.body.dataset.admin === "true";
  #row = $("preset-picker");
  #select = $("preset");
  #onPick;
  #settings;
  #notify;
  #newChat = false;

  // onPick(preset or null) fills a new chat's settings; settings: check(), options() and systemPrompt() of the panel.
  // notify(text) shows a page-level message.
  constructor({ onPick, settings, notify }) {
    this.#onPick = onPick;
    this.#settings = settings;
    this.#notify = notify;
    this.#select.addEventListener("change", () => {
      this.#showActions();
      this.#onPick(this.#chosen());
    });
    $("preset-save").addEventListener("click", () => this.#saveCurrent());
    $("preset-name").addEventListener("input", () => this.#markName(""));
    $("preset-delete").addEventListener("click", () => this.#change("DELETE"));
    $("preset-is-default").addEventListener("change", (event) => this.#change("PATCH", { default: event.target.checked }));
    $("preset-shared").addEventListener("change", (event) => this.#change("PATCH", { shared: event.target.checked }));
  }

  async load() {
    const presets = await request("GET", "api/presets").catch(() => ({ presets: [] }));
    this.#presets = presets.presets;
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
    this.#showActions();
  }

  // What may be done with the chosen preset: anyone makes it their default; a shared one is changed by admins only.
  #showActions() {
    const preset = this.#chosen();
    $("preset-actions").hidden = !preset;
    if (!preset) return;
    $("preset-is-default").checked = preset.default;
    $("preset-shared").checked = preset.shared;
    $("preset-delete").hidden = preset.shared && !this.#admin;
  }

  // The controls wait, disabled, until the change is done. The settings already taken from the preset stay as they
  // are. A refusal is said on the page and the controls show the preset as it is; a 403 means the person is no longer
  // an admin, and the admin's controls go.
  async #change(method, fields) {
    const preset = this.#chosen();
    if (!preset) return;
    const controls = [...$("preset-actions").querySelectorAll("input, button")];
    for (const control of controls) control.disabled = true;
    try {
      await this.#send(method, preset, fields);
    } finally {
      for (const control of controls) control.disabled = false;
    }
  }

  async #send(method, preset, fields) {
    try {
      await request(method, presetUrl(preset), fields);
      this.#notify("");
    } catch (error) {
      this.#notify(error.message);
      if (error.status !== 403) {
        this.#showActions();
        return;
      }
      this.#demote();
    }
    await this.#reload(method === "DELETE" ? "" : preset.id);
  }

  // Read the presets again, keeping the picked one (if it is still there) on the new chat's screen.
  async #reload(picked) {
    await this.load();
    this.#select.value = picked;
    if (!this.#chosen()) this.#select.value = "";
    this.#row.hidden = !this.#newChat || this.#presets.length === 0;
    this.#showActions();
  }

  // A 403 means the person is no longer an admin: the admin's controls go.
  #demote() {
    this.#admin = false;
    for (const control of document.querySelectorAll("[data-admin-only]")) control.hidden = true;
  }

  #chosen() {
    return this.#presets.find((preset) => preset.id === this.#select.value) ?? null;
  }

  #fill() {
    const label = (preset) => (preset.shared ? _("%(name)s (from the server)", { name: preset.name }) : preset.name);
    this.#select.replaceChildren(
      new Option(_("No preset"), ""),
      ...this.#presets.map((preset) => new Option(label(preset), preset.id, false, preset.default)),
    );
  }

  // What is wrong with the name, on its field; "" clears it.
  #markName(error) {
    $("preset-name-error").textContent = error;
    $("preset-name").setAttribute("aria-invalid", String(Boolean(error)));
  }

  // The name and the fields are checked here first, so what the server would refuse is not sent: a name of spaces
  // alone is none to it either (it collapses them).
  async #saveCurrent() {
    const status = $("preset-status");
    const name = $("preset-name");
    const named = name.value.trim() !== "";
    this.#markName(named ? "" : _("Type a name for the preset."));
    const valid = this.#settings.check();
    if (!named || !valid) {
      status.textContent = _("Not saved: correct the marked fields.");
      if (!named) name.focus();
      return;
    }
    const preset = {
      name: name.value,
      system_prompt: this.#settings.systemPrompt(),
      options: this.#settings.options(),
      default: $("preset-default").checked,
      ...(this.#admin && { shared: $("preset-share-new").checked }),
    };
    try {
      await request("POST", "api/presets", preset);
      status.textContent = _("Preset saved");
      name.value = "";
      await this.#reload(this.#select.value);
    } catch (error) {
      status.textContent = error.message;
    }
  }
}
