// Served by the render benchmark in place of /static/markdown.js: the naive renderer figure 5 compares the product
// with. It is the page's own pipeline (markdown-it, highlight.js, KaTeX, DOMPurify), run over the whole answer on
// every delta, with the interface message-view.js uses.
import { renderMarkdown } from "./markdown.js?product";

export { renderMarkdown };

// Stored messages ([element, text, onChange] each): rendered whole, one by one, at once, like everything here.
export function renderEachInSlices(items) {
  return items.map(([element, text, onChange]) => {
    renderMarkdown(element, text, { onChange });
    return null;
  });
}

export class StreamRenderer {
  constructor(container, { onRendered = () => {} } = {}) {
    this.container = container;
    this.onRendered = onRendered;
    this.text = "";
  }

  append(text) {
    this.text += text;
    this.render();
  }

  reset(text) {
    this.text = text;
    this.render();
  }

  render() {
    renderMarkdown(this.container, this.text);
    this.onRendered();
  }

  // Every delta was rendered whole already; the answer is announced whole, as no piece of it was.
  finish(whenFinished = () => {}) {
    whenFinished(this.container.textContent);
  }

  // Nothing is ever left to render later.
  cancel() {}
}
