// The form that adds or changes a connection (POST/PATCH /api/connections): a stored key is never shown, only replaced
// or cleared; the models offered, and those that read images, are all (or none), or those picked from what "Test
// connection" found or typed; a field the server refuses shows the server's words on that field.
import { request } from "./api.js";
import { $ } from "./dom.js";
import { _, ngettext } from "./i18n.js";
import { ModelChoice } from "./model-choice.js";

// How a key is shown: whether there is one and, for a long one, its last characters; never the key.
export function keyState({ key_set: set, key_hint: hint }) {
  if (!set) return _("no key");
  return hint ? _("set, ends in %(hint)s", { hint }) : _("set");
}

export class ConnectionForm {
  #form = $("connection-form");
  #key = $("connection-api_key");
  #result = $("connection-test-result");
  // The connection being changed, or null for a new one.
  #connection = null;
  #clearKey = false;
  // Every model the form knows, in order: the connection's, then those found or typed.
  #known = new Set();
  #offered = new ModelChoice({ radios: "connection-models", key: "model", known: this.#known, onTyped: () => this.#renderModels() });
  #readsImages = new ModelChoice({ radios: "connection-vision", key: "vision", known: this.#known, onTyped: () => this.#renderModels() });
  #onSaved;
  #onClosed;

  // onSaved(connection) after the server stored it; onClosed() when the form goes away, saved or not.
  constructor({ onSaved, onClosed }) {
    this.#onSaved = onSaved;
    this.#onClosed = onClosed;
    this.#form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#save();
    });
    $("connection-test").addEventListener("click", () => this.#test());
    $("connection-cancel").addEventListener("click", () => this.close());
    $("connection-key-replace").addEventListener("click", () => {
      this.#key.hidden = false;
      this.#key.focus();
    });
    $("connection-key-clear").addEventListener("click", () => {
      this.#clearKey = true;
      this.#showKey();
    });
    $("connection-type").addEventListener("change", () => this.#showOllamaNote());
  }

  open(connection) {
    this.#connection = connection;
    this.#clearKey = false;
    $("connection-form-title").textContent = connection ? _("Change “%(name)s”", { name: connection.name }) : _("Add a connection");
    $("connection-name").value = connection?.name ?? "";
    $("connection-type").value = connection?.type ?? "openai";
    $("connection-base_url").value = connection?.base_url ?? "";
    $("connection-context_length").value = connection?.context_length ?? "";
    $("connection-enabled").checked = connection?.enabled ?? true;
    this.#key.value = "";
    this.#known.clear();
    this.#offered.set(connection?.models ? "chosen" : "all", connection?.models ?? []);
    const vision = connection?.vision ?? false;
    this.#readsImages.set(Array.isArray(vision) ? "chosen" : vision ? "all" : "none", Array.isArray(vision) ? vision : []);
    // Where managing an Ollama server's models is mounted: it needs the connection's id.
    const ollama = this.#form.querySelector(".ollama-models");
    if (connection?.type === "ollama") ollama.dataset.connectionId = connection.id;
    else delete ollama.dataset.connectionId;
    this.#renderModels();
    this.#showOllamaNote();
    this.#showKey();
    this.#clearErrors();
    this.#result.textContent = "";
    this.#form.hidden = false;
    $("connection-name").focus();
  }

  // A typed key does not stay in the page once the form is gone.
  close() {
    this.#key.value = "";
    this.#form.hidden = true;
    this.#onClosed();
  }

  #showKey() {
    const stored = Boolean(this.#connection?.key_set);
    $("connection-key-state").hidden = !stored;
    $("connection-key-text").textContent = this.#clearKey ? _("The key is removed when you save.") : keyState(this.#connection ?? {});
    $("connection-key-replace").hidden = this.#clearKey;
    $("connection-key-clear").hidden = this.#clearKey;
    this.#key.hidden = stored && !this.#clearKey;
  }

  // What the body says of the key: a new one, null to clear it, or nothing to keep the stored one.
  #keyField() {
    if (this.#key.value) return { api_key: this.#key.value };
    return this.#clearKey ? { api_key: null } : {};
  }

  // Ollama's own word on which models read images counts too (OllamaProvider.reads_images).
  #showOllamaNote() {
    $("connection-vision-ollama").hidden = $("connection-type").value !== "ollama";
  }

  #renderModels() {
    this.#offered.render();
    this.#readsImages.render();
  }

  // The models a test found join the lists unchosen; those already chosen stay so.
  #addFound(models) {
    for (const name of models) this.#known.add(name);
    this.#renderModels();
  }

  // `vision` as the API takes it: false (no model), true (all), or the names chosen.
  #vision() {
    const mode = this.#readsImages.mode;
    return mode === "chosen" ? this.#readsImages.chosen : mode === "all";
  }

  #fields() {
    const length = $("connection-context_length").value;
    return {
      name: $("connection-name").value.trim(),
      type: $("connection-type").value,
      base_url: $("connection-base_url").value.trim(),
      models: this.#offered.mode === "chosen" ? this.#offered.chosen : null,
      vision: this.#vision(),
      context_length: length === "" ? null : Number(length),
      enabled: $("connection-enabled").checked,
      ...this.#keyField(),
    };
  }

  // What the page can tell before asking the server; whether there was nothing.
  #checkHere(fields) {
    if (fields.models?.length === 0) this.#showError({ field: "models", message: _("Choose at least one model, or offer all the server lists.") });
    else if (fields.vision?.length === 0) this.#showError({ field: "vision", message: _("Choose at least one model that reads images, or “No model”.") });
    else if ($("connection-context_length").validity.badInput) this.#showError({ field: "context_length", message: _("The context length must be a whole number of tokens, or empty.") });
    else return true;
    return false;
  }

  async #save() {
    this.#clearErrors();
    const fields = this.#fields();
    if (!this.#checkHere(fields)) return;
    try {
      const saved = this.#connection
        ? await request("PATCH", `api/connections/${encodeURIComponent(this.#connection.id)}`, fields)
        : await request("POST", "api/connections", fields);
      this.close();
      this.#onSaved(saved);
    } catch (error) {
      this.#showError(error);
    }
  }

  // The server asks the address for its models now; a stored connection's key is used unless another is typed.
  async #test() {
    this.#clearErrors();
    const { name, type, base_url: baseUrl } = this.#fields();
    const body = { type, base_url: baseUrl, ...(name && { name }), ...this.#keyField(), ...(this.#connection && { id: this.#connection.id }) };
    this.#result.classList.remove("failed");
    this.#result.textContent = _("Asking the server for its models…");
    try {
      const { models } = await request("POST", "api/connections/test", body);
      this.#result.textContent = models.length
        ? ngettext("The server lists %(n)s model: %(models)s", "The server lists %(n)s models: %(models)s", models.length, { n: models.length, models: models.join(", ") })
        : _("The server answered but lists no models: type their names.");
      this.#addFound(models);
    } catch (error) {
      this.#result.textContent = "";
      if (!error.field) this.#result.classList.add("failed");
      this.#showError(error, this.#result);
    }
  }

  // On its field when the server names one the form has, else under the form (or in `fallback`).
  #showError({ field, message }, fallback = $("connection-form-error")) {
    const target = field && $(`connection-error-${field}`);
    (target || fallback).textContent = message;
    if (!target) return;
    const input = $(`connection-${field}`);
    input?.setAttribute("aria-invalid", "true");
    input?.focus();
  }

  #clearErrors() {
    for (const node of this.#form.querySelectorAll(".field-error")) node.textContent = "";
    for (const node of this.#form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  }
}
