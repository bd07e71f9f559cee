// A choice of a connection's form among the models the form knows (those "Test connection" found or typed): a group of
// radios says how (all, none, only those chosen), and "chosen" shows a checkbox per known model and a field to type one
// more. The form's choices share one set of known models, so a model typed in one is offered in the others.
import { $, h } from "./dom.js";

export class ModelChoice {
  #radios;
  #choice;
  #list;
  #typed;
  // Shared with the form's other choices: every model it knows, in order.
  #known;
  #chosen = new Set();
  #onTyped;

  // `radios`: the name of the radio group; `key`: the connection-<key>-… elements of the template's model_choice macro;
  // onTyped() after a model is typed, for the form to show it in each of its choices.
  constructor({ radios, key, known, onTyped }) {
    this.#radios = [...document.querySelectorAll(`input[name="${radios}"]`)];
    this.#choice = $(`connection-${key}-choice`);
    this.#list = $(`connection-${key}-list`);
    this.#typed = $(`connection-${key}-typed`);
    this.#known = known;
    this.#onTyped = onTyped;
    for (const input of this.#radios) input.addEventListener("change", () => this.#showChoice());
    $(`connection-${key}-add`).addEventListener("click", () => this.#addTyped());
    this.#typed.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      this.#addTyped();
    });
  }

  // The radio whose value is `mode` checked, and `chosen` the models checked; the form knows them from now on.
  set(mode, chosen) {
    this.#radios.find((input) => input.value === mode).checked = true;
    this.#chosen = new Set(chosen);
    for (const name of chosen) this.#known.add(name);
    this.#showChoice();
  }

  // The value of the radio checked.
  get mode() {
    return this.#radios.find((input) => input.checked).value;
  }

  // The models checked, in the order the form knows them.
  get chosen() {
    return [...this.#known].filter((name) => this.#chosen.has(name));
  }

  render() {
    const item = (name) => {
      const box = h("input", {
        type: "checkbox",
        value: name,
        checked: this.#chosen.has(name),
        onchange: () => (box.checked ? this.#chosen.add(name) : this.#chosen.delete(name)),
      });
      return h("li", {}, h("label", { className: "check" }, box, " ", name));
    };
    this.#list.replaceChildren(...[...this.#known].map(item));
  }

  #showChoice() {
    this.#choice.hidden = this.mode !== "chosen";
  }

  #addTyped() {
    const name = this.#typed.value.trim();
    if (!name) return;
    this.#known.add(name);
    this.#chosen.add(name);
    this.#typed.value = "";
    this.#onTyped();
  }
}
