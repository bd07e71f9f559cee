// The provider and model pickers, filled from GET /api/providers, and what the page says about the chosen model.
import { request } from "./api.js";
import { $ } from "./dom.js";
import { _ } from "./i18n.js";

// The pickers' names of the providers by their internal names ("auto" is "Auto (fallback)"), once the list has loaded.
const labels = new Map();

// Set once the person has closed the note about the demo model: the note stays closed in this browser.
const NOTE_CLOSED = "webui-demo-note-closed";

function noteClosed() {
  try {
    return localStorage.getItem(NOTE_CLOSED) === "true";
  } catch {
    return false;
  }
}

// What the pickers call a provider: the page names it so everywhere, its internal name until the list has loaded.
export function providerLabel(name) {
  return labels.get(name) ?? name;
}

export class Pickers {
  #providerSelect = $("provider");
  #modelSelect = $("model");
  #hint = $("provider-error");
  #note = $("model-note");
  #providers = [];
  #notify;
  #onShown;
  #wanted;

  // onChange({provider, model}) when the person picks; onShown(provider) whenever the provider shown changes.
  constructor({ onChange, onShown, notify }) {
    this.#notify = notify;
    this.#onShown = onShown;
    this.#providerSelect.addEventListener("change", () => {
      this.#fillModels();
      onChange(this.value());
    });
    this.#modelSelect.addEventListener("change", () => {
      this.#showNote();
      onChange(this.value());
    });
    // Before the providers load: a closed note keeps no room for itself, so nothing moves when they do.
    this.#note.hidden = noteClosed();
    $("model-note-close").addEventListener("click", () => this.#closeNote());
  }

  // Loaded again after the server's providers change (Settings → Connections): the choice shown stays, if it still can.
  async load() {
    try {
      const listing = await request("GET", "api/providers");
      const shown = this.#providerSelect.value ? this.value() : this.#wanted;
      this.#providers = listing.providers;
      labels.clear();
      for (const p of this.#providers) labels.set(p.name, p.label);
      this.#providerSelect.replaceChildren(
        ...this.#providers.map((p) => new Option(p.available ? p.label : _("%(name)s (unavailable)", { name: p.label }), p.name, false, p.name === listing.default)),
      );
      this.#fillModels();
      if (shown) this.choose(shown.provider, shown.model);
    } catch {
      this.#notify(_("Could not load the list of providers."));
    }
  }

  #selected() {
    return this.#providers.find((p) => p.name === this.#providerSelect.value);
  }

  #fillModels(model) {
    const provider = this.#selected();
    this.#hint.textContent = provider && !provider.available ? provider.error : "";
    const wanted = model || provider?.default_model;
    this.#modelSelect.replaceChildren(...(provider?.models || []).map((name) => new Option(name, name, false, name === wanted)));
    this.#showNote();
    this.#onShown(provider);
  }

  // The bundled demo model is said to be one, with the way to a real model.
  #showNote() {
    const demo = this.#selected()?.demo_model;
    this.#note.classList.toggle("shown", Boolean(demo) && this.#modelSelect.value === demo);
  }

  // The page's only note is the demo model's, so closing it closes it for good: on a phone it takes three lines.
  #closeNote() {
    this.#note.hidden = true;
    this.#modelSelect.focus();
    try {
      localStorage.setItem(NOTE_CLOSED, "true");
    } catch {
      // Storage can be off (private mode): the note is then closed until the page is loaded again.
    }
  }

  // A conversation remembers its provider and model; ones this server no longer has leave the pickers as they are.
  // A choice made before the list has loaded is applied when it does.
  choose(provider, model) {
    this.#wanted = { provider, model };
    if (!this.#providers.some((p) => p.name === provider)) return;
    this.#providerSelect.value = provider;
    this.#fillModels(model);
  }

  value() {
    return { provider: this.#providerSelect.value || null, model: this.#modelSelect.value || null };
  }
}
