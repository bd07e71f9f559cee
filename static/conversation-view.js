// The list of messages: keeps views in step with the server's copy, renders what is in view first,
// and follows a growing answer unless the reader has scrolled up.
import { $, copyWithFeedback } from "./dom.js";
import { MessageView } from "./message-view.js";

// Messages rendered at once when a conversation opens; older ones wait for idle time.
const RENDER_FIRST = 20;
// Within this many pixels of the end the reader is "at the bottom".
const BOTTOM_SLACK = 48;

// Safari has no requestIdleCallback: a timer with an 8 ms budget stands in.
const whenIdle =
  window.requestIdleCallback ||
  ((callback) =>
    setTimeout(() => {
      const end = performance.now() + 8;
      callback({ timeRemaining: () => end - performance.now() });
    }, 16));
const cancelIdle = window.cancelIdleCallback || clearTimeout;

class Follower {
  constructor(scroller, button) {
    this.scroller = scroller;
    this.button = button;
    this.following = true;
    scroller.addEventListener("scroll", () => this.check(), { passive: true });
    button.addEventListener("click", () => this.toBottom());
  }

  check() {
    const { scrollTop, scrollHeight, clientHeight } = this.scroller;
    this.following = scrollHeight - scrollTop - clientHeight <= BOTTOM_SLACK;
    this.button.hidden = this.following;
  }

  stick() {
    if (this.following) this.scroller.scrollTop = this.scroller.scrollHeight;
    else this.button.hidden = false;
  }

  toBottom() {
    this.following = true;
    this.stick();
    this.button.hidden = true;
  }
}

export class ConversationView {
  constructor(actions) {
    this.list = $("messages");
    this.empty = $("empty");
    this.actions = actions;
    this.views = [];
    this.idle = 0;
    this.follower = new Follower(this.list, $("to-bottom"));
    // One listener for the Copy buttons of every code block, however many answers there are.
    this.list.addEventListener("click", (event) => {
      const button = event.target.closest(".copy-code");
      if (button) copyWithFeedback(button, button.parentElement.querySelector("code").textContent);
    });
  }

  get last() {
    return this.views.at(-1);
  }

  indexOf(view) {
    return this.views.indexOf(view);
  }

  create(message) {
    const view = new MessageView(message, this.actions, { onRendered: () => this.follower.stick() });
    this.views.push(view);
    this.list.append(view.element);
    this.empty.hidden = true;
    return view;
  }

  add(message) {
    const view = this.create(message);
    view.render();
    this.follower.toBottom();
    return view;
  }

  // Removes `view` and every message after it (a regenerated or edited branch replaces them).
  truncateFrom(view) {
    const index = this.indexOf(view);
    for (const gone of this.views.splice(index)) gone.element.remove();
    this.empty.hidden = this.views.length > 0;
  }

  clear() {
    this.views.forEach((view) => view.element.remove());
    this.views = [];
    this.empty.hidden = false;
  }

  // Shows the server's copy of the messages, keeping the views that have not changed (their rendering is kept).
  show(messages, { scroll = false } = {}) {
    let keep = 0;
    while (keep < messages.length && keep < this.views.length && this.views[keep].sameAs(messages[keep])) {
      this.views[keep].update(messages[keep]);
      keep++;
    }
    if (keep < this.views.length) this.truncateFrom(this.views[keep]);
    messages.slice(keep).forEach((message) => this.create(message));
    this.empty.hidden = this.views.length > 0;
    this.renderNewestFirst();
    if (scroll) this.follower.toBottom();
  }

  // The newest messages are the ones in view: they render now, the rest in idle time, newest first, so that
  // opening a long conversation costs a few messages' rendering before it can be read.
  renderNewestFirst() {
    const waiting = this.views.filter((view) => !view.rendered);
    waiting.splice(-RENDER_FIRST).forEach((view) => view.render());
    const renderSome = (deadline) => {
      while (waiting.length && deadline.timeRemaining() > 2) waiting.pop().render();
      this.follower.stick();
      this.idle = waiting.length ? whenIdle(renderSome) : 0;
    };
    if (this.idle) cancelIdle(this.idle);
    this.idle = waiting.length ? whenIdle(renderSome) : 0;
  }

  setBusy(busy) {
    for (const button of this.list.querySelectorAll(".needs-idle")) button.disabled = busy;
  }
}
