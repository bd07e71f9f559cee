// An Ollama connection's own models in Settings → Connections (/api/connections/<id>/models): those installed, each
// with a Delete button; a pull by name with its progress as Ollama sends it, which a Cancel button (or closing the
// panel) aborts; every failure in the server's words, or said here when the answer broke off.
import { ApiError, refusal, request, send } from "./api.js";
import { confirmDialog, h } from "./dom.js";
import { _, formatPercent, formatSize } from "./i18n.js";

// The objects of a newline-delimited JSON body, each as soon as its line has come.
async function* jsonLines(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const lines = (rest + value).split("\n");
    rest = lines.pop();
    for (const line of lines) if (line.trim()) yield JSON.parse(line);
  }
}

// Ollama says each step of a pull in English; the steps it is known to take are said in the page's language.
function stepName(status) {
  const layer = /^pulling ([0-9a-f]+)$/.exec(status);
  if (layer) return _("Downloading layer %(digest)s", { digest: layer[1] });
  const steps = new Map([
    ["pulling manifest", _("Fetching the manifest")],
    ["verifying sha256 digest", _("Checking the download")],
    ["writing manifest", _("Writing the manifest")],
    ["removing any unused layers", _("Removing unused layers")],
  ]);
  return steps.get(status) ?? status;
}

function facts(model) {
  return [
    model.size !== null && formatSize(model.size),
    model.family,
    model.parameter_size && _("%(size)s parameters", { size: model.parameter_size }),
    model.quantization,
  ].filter(Boolean);
}

export class OllamaModels {
  #slot;
  #path;
  #onChange;
  #list = h("ul", { className: "ollama-model-list" });
  #name = h("input", {
    id: "ollama-pull-name",
    type: "text",
    autocomplete: "off",
    autocapitalize: "none",
    placeholder: "qwen2.5:0.5b",
    "aria-describedby": "ollama-pull-note",
  });
  #pull = h("button", { type: "button", className: "secondary", onclick: () => this.#pullModel() }, _("Pull"));
  #cancel = h("button", { type: "button", className: "secondary", hidden: true, onclick: () => this.#pulling?.abort() }, _("Cancel"));
  #progress = h("progress", { hidden: true, "aria-labelledby": "ollama-pull-label" });
  #status = h("p", { className: "ollama-status", role: "status" });
  // The AbortController of the pull under way, if one is.
  #pulling = null;

  // Shown in `slot`, an element whose data-connection-id names the connection; onChange() after a model came or went.
  constructor(slot, { onChange }) {
    this.#slot = slot;
    this.#path = `api/connections/${encodeURIComponent(slot.dataset.connectionId)}/models`;
    this.#onChange = onChange;
    this.#name.spellcheck = false;
    // Enter pulls, and does not submit the connection's form around it.
    this.#name.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      if (!this.#pulling) this.#pullModel();
    });
    slot.replaceChildren(
      h("h4", {}, _("Models installed on the server")),
      this.#list,
      h("label", { for: "ollama-pull-name", id: "ollama-pull-label" }, _("Pull a model")),
      h("div", { className: "ollama-pull" }, this.#name, this.#pull, this.#cancel),
      h("span", { className: "field-note", id: "ollama-pull-note" }, _("A name from the Ollama library (ollama.com/library), such as qwen2.5:0.5b.")),
      this.#progress,
      this.#status,
    );
    slot.hidden = false;
    this.#load();
  }

  // A pull under way is aborted: Ollama stops downloading when its request closes.
  close() {
    this.#pulling?.abort();
    this.#slot.replaceChildren();
    this.#slot.hidden = true;
  }

  #say(text, failed = false) {
    this.#status.textContent = text;
    this.#status.classList.toggle("failed", failed);
  }

  // Whether the list could be had; if not, the section says why.
  async #load() {
    this.#say(_("Asking the server for its models…"));
    try {
      const { models } = await request("GET", this.#path);
      const items = models.map((model) => this.#item(model));
      this.#list.replaceChildren(...(items.length ? items : [h("li", { className: "muted" }, _("No models are installed yet: pull one below."))]));
      this.#say("");
      return true;
    } catch (error) {
      this.#say(error.message, true);
      return false;
    }
  }

  #item(model) {
    return h(
      "li",
      { className: "ollama-model", "data-model": model.name },
      h("div", {}, h("strong", {}, model.name), h("div", { className: "muted" }, facts(model).join(" · "))),
      h(
        "button",
        { type: "button", className: "secondary", "aria-label": _("Delete “%(model)s”", { model: model.name }), onclick: () => this.#delete(model.name) },
        _("Delete"),
      ),
    );
  }

  async #delete(model) {
    if (!(await confirmDialog(_("Delete “%(model)s” from the server's disk?", { model })))) return;
    try {
      await request("DELETE", `${this.#path}/${encodeURIComponent(model)}`);
    } catch (error) {
      this.#say(error.message, true);
      return;
    }
    this.#onChange();
    if (await this.#load()) this.#say(_("“%(model)s” is deleted.", { model }));
  }

  async #pullModel() {
    const model = this.#name.value.trim();
    this.#name.removeAttribute("aria-invalid");
    if (!model) {
      this.#say(_("Type the name of a model to pull."), true);
      return;
    }
    const pulling = new AbortController();
    this.#showPulling(pulling);
    this.#say(_("Pulling “%(model)s”…", { model }));
    const failure = await this.#failureOf(model, pulling.signal);
    this.#showPulling(null);
    if (failure) {
      this.#say(failure.message, true);
      if (failure.field === "name") this.#name.setAttribute("aria-invalid", "true");
      return;
    }
    this.#name.value = "";
    this.#onChange();
    if (await this.#load()) this.#say(_("“%(model)s” is pulled and can be chosen.", { model }));
  }

  // Pull the model, showing its progress: what went wrong ({message, field}), or null once it is installed.
  async #failureOf(model, signal) {
    try {
      const response = await send("POST", `${this.#path}/pull`, { name: model }, signal);
      if (!response.ok) throw refusal(response, await response.json().catch(() => null));
      // Progress lines, then one final line: {"done": true} or {"error": {"code", "message"}}.
      for await (const line of jsonLines(response.body)) {
        if (line.done) return null;
        if (line.error) return line.error;
        this.#showProgress(line);
      }
    } catch (error) {
      if (signal.aborted) return { message: _("The pull of “%(model)s” is cancelled.", { model }) };
      if (error instanceof ApiError) return { message: error.message, field: error.field };
      // Otherwise the answer broke off (the server went away) or held a line that cannot be read.
    }
    return { message: _("The answer stopped before the server said whether “%(model)s” was pulled: pull it again to go on.", { model }) };
  }

  // Each layer counts its own bytes from 0; a step without a count (a digest being checked) shows a busy bar.
  #showProgress({ status, completed, total }) {
    const step = stepName(status);
    if (!total) {
      this.#progress.removeAttribute("value");
      this.#say(step);
      return;
    }
    const bytes = completed ?? 0;
    this.#progress.max = total;
    this.#progress.value = bytes;
    const values = { step, percent: formatPercent(bytes / total), completed: formatSize(bytes), total: formatSize(total) };
    this.#say(_("%(step)s: %(percent)s, %(completed)s of %(total)s", values));
  }

  #showPulling(controller) {
    this.#pulling = controller;
    const busy = controller !== null;
    this.#name.disabled = busy;
    this.#pull.disabled = busy;
    this.#cancel.hidden = !busy;
    this.#progress.hidden = !busy;
    this.#progress.removeAttribute("value");
    // The field was disabled (and Cancel hidden) under the keyboard's focus: it goes back to the field.
    if (!busy) this.#name.focus();
  }
}
