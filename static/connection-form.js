// The form that adds or changes a connection (POST/PATCH /api/connections): a stored key is never shown, only replaced
// or cleared; the models offered are all, or those picked from what "Test connection" found or typed; those that read
// images none, all, or those named; a field the server refuses shows the server's words on that field.
import { request } from "./api.js";
import { $, h } from "./dom.js";
import { _, ngettext } from "./i18n.js";

// How a key is shown: whether there is one and, for a long one, its last characters; never the key.
export function keyState({ key_set: set, key_hint: hint }) {
  if (!set) return _("no key");
  return hint ? _("set, ends in %(hint)s", { hint }) : _("set");
}

// The radio buttons of a group of the form ("models", "vision"), and the one with `value`.
const radios = (group) => [...document.querySelectorAll(`input[name="connection-${group}"]`)];
const radio = (group, value) => radios(group).find((input) => input.value === value);
// `vision` as the server has it: true (all models), false (none), or the names of those that read images.
const visionChoice = (vision) => (vision === true ? "all" : Array.isArray(vision) ? "chosen" : "none");

export class ConnectionForm {
  #form = $("connection-form");
  #key = $("connection-api_key");
  #result = $("connection-test-result");
  // The connection being changed, or null for a new one.
  #connection = null;
  #clearKey = false;
  // Every model the form lists, in order: name → whether it is chosen.
  #models = new Map();
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
    for (const input of radios("models")) input.addEventListener("change", () => this.#showModelChoice());
    for (const input of radios("vision")) input.addEventListener("change", () => this.#showVisionChoice());
    $("connection-model-add").addEventListener("click", () => this.#addTyped());
    $("connection-model-typed").addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      this.#addTyped();
    });
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
    this.#models = new Map((connection?.models ?? []).map((name) => [name, true]));
    radio("models", connection?.models ? "chosen" : "all").checked = true;
    radio("vision", visionChoice(connection?.vision)).checked = true;
    $("connection-vision").value = Array.isArray(connection?.vision) ? connection.vision.join(", ") : "";
    // Where managing an Ollama server's models is mounted: it needs the connection's id.
    const ollama = this.#form.querySelector(".ollama-models");
    if (connection?.type === "ollama") ollama.dataset.connectionId = connection.id;
    else delete ollama.dataset.connectionId;
    this.#renderModels();
    this.#showModelChoice();
    this.#showVisionChoice();
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

  #showModelChoice() {
    $("connection-model-choice").hidden = !radio("models", "chosen").checked;
  }

  #showVisionChoice() {
    $("connection-vision").hidden = !radio("vision", "chosen").checked;
  }

  #vision() {
    if (radio("vision", "all").checked) return true;
    if (!radio("vision", "chosen").checked) return false;
    return $("connection-vision").value.split(",").map((name) => name.trim()).filter(Boolean);
  }

  #renderModels() {
    const item = ([name, chosen]) => {
      const box = h("input", { type: "checkbox", value: name, checked: chosen, onchange: () => this.#models.set(name, box.checked) });
      return h("li", {}, h("label", { className: "check" }, box, " ", name));
    };
    $("connection-model-list").replaceChildren(...[...this.#models].map(item));
  }

  #addTyped() {
    const typed = $("connection-model-typed");
    const name = typed.value.trim();
    if (!name) return;
    this.#models.set(name, true);
    typed.value = "";
    this.#renderModels();
  }

  // The models a test found join the list unchosen; those already chosen stay so.
  #addFound(models) {
    for (const name of models) if (!this.#models.has(name)) this.#models.set(name, false);
    this.#renderModels();
  }

  #fields() {
    const length = $("connection-context_length").value;
    return {
      name: $("connection-name").value.trim(),
      type: $("connection-type").value,
      base_url: $("connection-base_url").value.trim(),
      models: radio("models", "chosen").checked ? [...this.#models].filter(([, chosen]) => chosen).map(([name]) => name) : null,
      context_length: length === "" ? null : Number(length),
      vision: this.#vision(),
      enabled: $("connection-enabled").checked,
      ...this.#keyField(),
    };
  }

  // What the page can tell before asking the server; whether there was nothing.
  #checkHere(fields) {
    if (fields.models?.length === 0) this.#showError({ field: "models", message: _("Choose at least one model, or offer all the server lists.") });
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
