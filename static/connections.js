// Settings → Connections, in an admin's page only: the model servers of the configuration file (read-only) and those
// added here (/api/connections), with the form that adds and changes them, and the keys of drop-in modules.
import { request } from "./api.js";
import { ConnectionForm, keyState } from "./connection-form.js";
import { $, confirmDialog, h } from "./dom.js";
import { _, formatNumber, ngettext } from "./i18n.js";
import { ModuleKeys } from "./module-keys.js";

function facts(connection) {
  const type = connection.type === "ollama" ? "Ollama" : _("OpenAI-compatible");
  const models = connection.models ? connection.models.join(", ") : _("all the server lists");
  return [
    type,
    connection.enabled ? _("enabled") : _("disabled"),
    _("models: %(models)s", { models }),
    connection.context_length &&
      ngettext("context: %(n)s token", "context: %(n)s tokens", connection.context_length, { n: formatNumber(connection.context_length) }),
    _("key: %(state)s", { state: keyState(connection) }),
  ].filter(Boolean);
}

class Connections {
  #dialog = $("connections");
  #list = $("connection-list");
  #status = $("connections-status");
  #add = $("connection-add");
  #form;
  #moduleKeys;
  #onChange;

  constructor({ onChange }) {
    this.#onChange = onChange;
    this.#form = new ConnectionForm({
      onSaved: (connection) => this.#changed(_("Saved “%(name)s”.", { name: connection.name })),
      onClosed: () => (this.#add.hidden = false),
    });
    this.#moduleKeys = new ModuleKeys({ onChange, status: (text) => (this.#status.textContent = text) });
    this.#add.addEventListener("click", () => this.#edit(null));
    $("connections-close").addEventListener("click", () => this.#dialog.close());
    this.#dialog.addEventListener("close", () => this.#form.close());
    for (const opener of document.querySelectorAll("[data-open-connections]")) {
      opener.addEventListener("click", (event) => {
        event.preventDefault();
        this.open();
      });
    }
  }

  open() {
    this.#status.textContent = "";
    if (!this.#dialog.open) this.#dialog.showModal();
    this.#load();
  }

  async #load() {
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
    );
  }

  #edit(connection) {
    this.#status.textContent = "";
    this.#add.hidden = true;
    this.#form.open(connection);
  }

  async #remove(connection) {
    if (!(await confirmDialog(_("Remove the connection “%(name)s”? Its provider goes away at once.", { name: connection.name })))) return;
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

// onChange() after a change to what the server offers, so the page loads its provider list again. A page without the
// panel (anyone but an admin) has nothing to set up.
export function setUpConnections({ onChange }) {
  if ($("connections")) new Connections({ onChange });
}
