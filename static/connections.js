// Settings → Connections, in an admin's page only: the model servers of the configuration file (read-only) and those
// added here (/api/connections), with the form that adds and changes them, the models of an Ollama server (in its form,
// or under a Models button for one of the configuration file), and the keys of drop-in modules.
import { request } from "./api.js";
import { ConnectionForm, keyState } from "./connection-form.js";
import { $, confirmDialog, h } from "./dom.js";
import { _, formatNumber, ngettext } from "./i18n.js";
import { ModuleKeys } from "./module-keys.js";
import { OllamaModels } from "./ollama-models.js";

// Which of its models read images, when any do (`vision`: true for all, or their names).
function images(vision) {
  if (vision === true) return _("images: all");
  return vision?.length > 0 && _("images: %(models)s", { models: vision.join(", ") });
}

function facts(connection) {
  const type = connection.type === "ollama" ? "Ollama" : _("OpenAI-compatible");
  const models = connection.models ? connection.models.join(", ") : _("all the server lists");
  return [
    type,
    connection.enabled ? _("enabled") : _("disabled"),
    _("models: %(models)s", { models }),
    images(connection.vision),
    connection.context_length &&
      ngettext("context: %(n)s token", "context: %(n)s tokens", connection.context_length, { n: formatNumber(connection.context_length) }),
    _("key: %(state)s", { state: keyState(connection) }),
  ].filter(Boolean);
}

export class Connections {
  #dialog = $("connections");
  #list = $("connection-list");
  #status = $("connections-status");
  #add = $("connection-add");
  #form;
  #moduleKeys;
  #onChange;
  // The Ollama models shown, if any: one connection's at a time, so that closing the panel stops any pull.
  #models = null;

  constructor({ onChange }) {
    this.#onChange = onChange;
    this.#form = new ConnectionForm({
      onSaved: (connection) => this.#changed(_("Saved “%(name)s”.", { name: connection.name })),
      onClosed: () => {
        this.#closeModels();
        this.#add.hidden = false;
      },
    });
    this.#moduleKeys = new ModuleKeys({ onChange, status: (text) => (this.#status.textContent = text) });
    this.#add.addEventListener("click", () => this.#edit(null));
    $("connections-close").addEventListener("click", () => this.#dialog.close());
    this.#dialog.addEventListener("close", () => this.#form.close());
  }

  open() {
    this.#status.textContent = "";
    if (!this.#dialog.open) this.#dialog.showModal();
    this.#load();
  }

  async #load() {
    // The list is built afresh: models shown in it would be lost with their item.
    this.#closeModels();
    try {
      const { connections } = await request("GET", "api/connections");
      const items = connections.map((connection) => this.#item(connection));
      this.#list.replaceChildren(...(items.length ? items : [h("li", { className: "muted" }, _("No connections yet."))]));
    } catch (error) {
      this.#status.textContent = error.message;
    }
    await this.#moduleKeys.load();
  }

  #item(connection) {
    const fromConfig = connection.source === "config";
    const button = (label, onclick) => h("button", { type: "button", className: "secondary", onclick }, label);
    return h(
      "li",
      { className: `connection-item${connection.enabled ? "" : " disabled"}`, "data-connection": connection.name },
      h("div", { className: "connection-title" }, h("strong", {}, connection.name), fromConfig && h("span", { className: "badge" }, _("from the configuration file, read-only"))),
      h("div", { className: "connection-url" }, connection.base_url),
      h("div", { className: "muted" }, facts(connection).join(" · ")),
      !fromConfig && h("div", { className: "item-buttons" }, button(_("Edit"), () => this.#edit(connection)), button(_("Remove"), () => this.#remove(connection))),
      fromConfig && connection.type === "ollama" && this.#modelsButton(connection),
    );
  }

  // A server of the configuration file cannot be edited here, but its models can be pulled and deleted.
  #modelsButton(connection) {
    const slot = h("div", { className: "ollama-models", hidden: true, "data-connection-id": connection.id });
    const toggle = () => (slot.hidden ? this.#showModels(slot) : this.#closeModels());
    return [h("div", { className: "item-buttons" }, h("button", { type: "button", className: "secondary", onclick: toggle }, _("Models"))), slot];
  }

  // The form has a place for them when the connection is an Ollama server.
  #showModels(slot) {
    this.#closeModels();
    if (slot.dataset.connectionId) this.#models = new OllamaModels(slot, { onChange: this.#onChange });
  }

  #closeModels() {
    this.#models?.close();
    this.#models = null;
  }

  #edit(connection) {
    this.#status.textContent = "";
    this.#add.hidden = true;
    this.#form.open(connection);
    this.#showModels($("connection-form").querySelector(".ollama-models"));
  }

  async #remove(connection) {
    if (!(await confirmDialog(_("Remove the connection “%(name)s”? Its provider goes away at once.", { name: connection.name }), _("Remove")))) return;
    try {
      await request("DELETE", `api/connections/${encodeURIComponent(connection.id)}`);
      this.#form.close();
      this.#changed(_("Removed “%(name)s”.", { name: connection.name }));
    } catch (error) {
      this.#status.textContent = error.message;
    }
  }

  // The list and the page's provider list show the change at once.
  async #changed(message) {
    await this.#load();
    this.#status.textContent = message;
    this.#onChange();
  }
}
