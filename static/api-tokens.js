// The API tokens section: the person's own tokens for programs that call /v1 (/api/tokens). A new token is shown once,
// in the dialog, and forgotten when it closes; the list shows names, prefixes and times, never a token.
import { appUrl, request } from "./api.js";
import { $, confirmDialog, copyWithFeedback, h } from "./dom.js";
import { _ } from "./i18n.js";

const when = (iso) => new Date(iso).toLocaleString(document.documentElement.lang);

function facts(token) {
  return [
    _("made %(when)s", { when: when(token.created_at) }),
    token.last_used_at ? _("last used %(when)s", { when: when(token.last_used_at) }) : _("never used"),
  ].join(" · ");
}

export class ApiTokens {
  #dialog = $("api-tokens");
  #list = $("api-token-list");
  #status = $("api-tokens-status");
  #name = $("api-token-name");
  #error = $("api-token-error");

  constructor() {
    $("api-base-url").textContent = appUrl("v1").href;
    $("api-tokens-close").addEventListener("click", () => this.#dialog.close());
    this.#dialog.addEventListener("close", () => this.#forgetNew());
    $("api-token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.#create();
    });
    $("api-token-copy").addEventListener("click", (event) => copyWithFeedback(event.currentTarget, $("api-token-value").value));
  }

  open() {
    this.#dialog.showModal();
    this.load();
  }

  async load() {
    try {
      const { tokens } = await request("GET", "api/tokens");
      this.#list.replaceChildren(...tokens.map((token) => this.#item(token)));
      $("api-tokens-empty").hidden = tokens.length > 0;
    } catch (error) {
      this.#status.textContent = error.message;
    }
  }

  #item(token) {
    return h(
      "li",
      { className: "api-token", "data-token": token.id },
      h("span", { className: "api-token-name" }, token.name),
      h("code", {}, `${token.prefix}…`),
      h("span", { className: "muted" }, facts(token)),
      h("button", { type: "button", className: "secondary", onclick: () => this.#revoke(token) }, _("Revoke")),
    );
  }

  async #create() {
    this.#error.textContent = "";
    this.#name.removeAttribute("aria-invalid");
    try {
      const made = await request("POST", "api/tokens", { name: this.#name.value });
      $("api-token-value").value = made.token;
      $("api-token-new").hidden = false;
      this.#name.value = "";
      this.#status.textContent = _("Made the token “%(name)s”.", { name: made.name });
    } catch (refusal) {
      this.#error.textContent = refusal.message;
      this.#name.setAttribute("aria-invalid", "true");
      return;
    }
    await this.load();
    $("api-token-value").select();
  }

  async #revoke(token) {
    if (!(await confirmDialog(_("Revoke the token “%(name)s”? Programs that use it are refused at once.", { name: token.name }), _("Revoke")))) return;
    try {
      await request("DELETE", `api/tokens/${encodeURIComponent(token.id)}`);
      this.#status.textContent = _("Revoked the token “%(name)s”.", { name: token.name });
    } catch (error) {
      this.#status.textContent = error.message;
    }
    await this.load();
  }

  #forgetNew() {
    $("api-token-value").value = "";
    $("api-token-new").hidden = true;
    this.#status.textContent = "";
  }
}
