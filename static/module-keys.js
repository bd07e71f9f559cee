// The keys of drop-in modules that need one (/api/module-keys), in Settings → Connections: entered as a connection's
// key is, never shown again, and used in place of the configuration file's.
import { request } from "./api.js";
import { keyState } from "./connection-form.js";
import { $, confirmDialog, h } from "./dom.js";
import { _ } from "./i18n.js";

function stateText(module) {
  const state = keyState(module);
  if (module.source === "page") return _("Key: %(state)s, entered here.", { state });
  if (module.source === "config") return _("Key: %(state)s, from the configuration file.", { state });
  return _("Key: %(state)s.", { state });
}

export class ModuleKeys {
  #section = $("module-keys-section");
  #list = $("module-key-list");
  #onChange;
  #status;

  // onChange() after a key changed; status(text) says what happened at the top of the panel.
  constructor({ onChange, status }) {
    this.#onChange = onChange;
    this.#status = status;
  }

  async load() {
    try {
      const { modules } = await request("GET", "api/module-keys");
      this.#section.hidden = modules.length === 0;
      this.#list.replaceChildren(...modules.map((module) => this.#item(module)));
    } catch (error) {
      this.#status(error.message);
    }
  }

  #item(module) {
    const id = `module-key-${module.name}`;
    const error = h("span", { className: "field-error", id: `${id}-error` });
    const input = h("input", { type: "password", id, autocomplete: "new-password", "aria-describedby": `${id}-state ${id}-error` });
    const save = () => this.#change(module, input, error, "PUT", { api_key: input.value });
    const remove = async () => {
      if (await confirmDialog(_("Remove the key of “%(name)s” entered here?", { name: module.name }), _("Remove"))) this.#change(module, input, error, "DELETE");
    };
    input.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      save();
    });
    return h(
      "li",
      { className: "module-key", "data-module": module.name },
      h("label", { for: id }, _("Key of %(name)s", { name: module.name })),
      h("span", { className: "muted", id: `${id}-state` }, stateText(module)),
      h(
        "div",
        { className: "module-key-row" },
        input,
        h("button", { type: "button", onclick: save }, _("Save key")),
        module.source === "page" && h("button", { type: "button", className: "secondary", onclick: remove }, _("Remove key")),
      ),
      error,
    );
  }

  async #change(module, input, error, method, body) {
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    try {
      await request(method, `api/module-keys/${encodeURIComponent(module.name)}`, body);
    } catch (refusal) {
      error.textContent = refusal.message;
      input.setAttribute("aria-invalid", "true");
      return;
    }
    input.value = "";
    await this.load();
    this.#status(method === "PUT" ? _("The key of “%(name)s” is saved.", { name: module.name }) : _("The key of “%(name)s” is removed.", { name: module.name }));
    this.#onChange();
  }
}
