// The list of messages: its views in step with the server's copy, rendered newest first, following a growing answer.
import { contextNote, droppedText, firstSent } from "./context.js";
import { $, cancelIdle, copyWithFeedback, whenIdle } from "./dom.js";
import { MessageView } from "./message-view.js";

// Idle work stops this many milliseconds before the browser wants the main thread back.
const IDLE_MARGIN = 2;
// Idle work renders messages a few at a time (see #nextBatch): at most this many, or about this much text.
const BATCH_VIEWS = 16;
const BATCH_CHARS = 8_000;
// Within this many pixels of the end the reader is "at the bottom".
const BOTTOM_SLACK = 48;

// Keeps the end of the list in view while the reader is there; once they scroll up, a button takes them back.
// Only a scroll up stops following: a scroll event is handled a frame after the scroll, and the list may have grown
// below meanwhile (an answer's next chunk, a render finishing), which is not the reader leaving the end.
class Follower {
  #scroller;
  #button;
  #following = true;
  #sticking = 0;
  #lastTop = 0;

  constructor(scroller, button) {
    this.#scroller = scroller;
    this.#button = button;
    scroller.addEventListener("scroll", () => this.#check(), { passive: true });
    button.addEventListener("click", () => this.toBottom());
  }

  #check() {
    const { scrollTop, scrollHeight, clientHeight } = this.#scroller;
    if (scrollHeight - scrollTop - clientHeight <= BOTTOM_SLACK) this.#following = true;
    else if (scrollTop < this.#lastTop) this.#following = false;
    this.#lastTop = scrollTop;
    this.#button.hidden = this.#following;
  }

  // Once per frame however many renders ask: reading the list's height lays the page out.
  stick() {
    this.#sticking ||= requestAnimationFrame(() => {
      this.#sticking = 0;
      this.#toEnd();
    });
  }

  #toEnd() {
    if (this.#following) this.#scroller.scrollTop = this.#scroller.scrollHeight;
    else this.#button.hidden = false;
  }

  toBottom() {
    this.#following = true;
    this.#toEnd();
    this.#button.hidden = true;
  }
}

export class ConversationView {
  #list = $("messages");
  #empty = $("empty");
  #follower = new Follower(this.#list, $("to-bottom"));
  #callbacks;
  #busy = false;
  #views = [];
  // A conversation just opened: its messages that have no view yet (oldest first, all older than #views), and the
  // views made for older messages in idle time, kept off the page until the last is made.
  #older = [];
  #shelf = new DocumentFragment();
  // The view that last drew its actions as the list's last (see #markLast).
  #lastDrawn = null;
  #idle = 0;
  // The line above the first message the newest answer's model saw: the view it stands before, or the message
  // whose view is still to be made.
  #note = contextNote();
  #noteView = null;
  #noteFor = null;

  // The buttons of a message call onRetry(view), onRegenerate(view), onContinue(view), onEdit(view, text, attachments),
  // onShowVersion(messageId) and onStop() (see message-view.js).
  constructor({ onRetry, onRegenerate, onContinue, onEdit, onShowVersion, onStop }) {
    this.#callbacks = {
      onRetry,
      onRegenerate,
      onContinue,
      onEdit,
      onShowVersion,
      onStop,
      isBusy: () => this.#busy,
      isLast: (view) => view === this.last(),
      onRendered: () => this.#follower.stick(),
    };
    // One listener for the Copy buttons of every code block, however many answers there are.
    this.#list.addEventListener("click", (event) => {
      const button = event.target.closest(".copy-code");
      if (button) copyWithFeedback(button, button.parentElement.querySelector("code").textContent);
    });
  }

  // The view of the newest message, if it has one.
  last() {
    return this.#views.at(-1);
  }

  // The view of the message before `view`'s.
  previous(view) {
    return this.#views[this.#views.indexOf(view) - 1];
  }

  // Adds a message at the end, rendered, and scrolls to it.
  add(message) {
    const view = this.#create(message);
    view.render();
    this.follow();
    return view;
  }

  // Scrolls to the end and keeps it in view as the newest answer grows, until the reader scrolls up.
  follow() {
    this.#follower.toBottom();
  }

  // Removes `view` and every message after it (a regenerated or edited branch replaces them).
  truncateFrom(view) {
    const index = this.#views.indexOf(view);
    const removed = this.#views.splice(index);
    for (const gone of removed) gone.element.remove();
    if (removed.includes(this.#noteView)) this.#hideNote();
    this.#empty.hidden = this.#views.length > 0;
    this.#markLast();
  }

  clear() {
    this.#dropOpening();
    this.#stopIdleWork();
    this.#hideNote();
    this.#views.forEach((view) => view.element.remove());
    this.#views = [];
    this.#older = [];
    this.#lastDrawn = null;
    this.#empty.hidden = false;
  }

  // Shows the server's copy of the messages, keeping the views that have not changed (their rendering is kept).
  show(messages, { scroll = false } = {}) {
    this.#dropOpening();
    // Comparing with the server's copy needs every view on the page; idle time still renders them.
    while (this.#older.length) this.#viewOlder();
    this.#placeShelf();
    let keep = 0;
    while (keep < messages.length && keep < this.#views.length && this.#views[keep].sameAs(messages[keep])) {
      this.#views[keep].update(messages[keep]);
      keep++;
    }
    if (keep < this.#views.length) this.truncateFrom(this.#views[keep]);
    const fresh = messages.slice(keep);
    // Making a view costs too: a conversation just opened gets views as its newest messages render (below).
    if (this.#views.length) fresh.forEach((message) => this.#create(message));
    else this.#older = fresh;
    this.#empty.hidden = this.#views.length + this.#older.length > 0;
    this.#renderNewestFirst();
    if (scroll) this.follow();
  }

  // Says above the first message `answer`'s model saw how many before it were left out (`context` from the answer's
  // start frame or stored stats); nothing when none were.
  showContext(answer, context) {
    this.#hideNote();
    const text = droppedText(context);
    if (!text || !answer) return;
    const texts = [...this.#older.map((message) => message.content), ...this.#views.map((view) => view.text)];
    const index = firstSent(texts, this.#older.length + this.#views.indexOf(answer), context.dropped_messages);
    if (index < 0) return;
    this.#note.textContent = text;
    if (index >= this.#older.length) this.#placeNote(this.#views[index - this.#older.length]);
    else this.#noteFor = this.#older[index];
  }

  // Views on the shelf are not on the page yet, but they will be.
  setBusy(busy) {
    this.#busy = busy;
    for (const root of [this.#list, this.#shelf]) {
      for (const button of root.querySelectorAll(".needs-idle")) button.disabled = busy;
    }
  }

  #create(message) {
    const view = new MessageView(message, this.#callbacks);
    this.#views.push(view);
    this.#list.append(view.element);
    this.#empty.hidden = true;
    this.#markLast();
    return view;
  }

  // Only the last message offers Continue, and a view asks whether it is the last while it is being made, before it
  // is in the list: whenever another view becomes the last, the old last and the new one draw their actions again.
  #markLast() {
    const last = this.last() ?? null;
    if (last === this.#lastDrawn) return;
    const before = this.#lastDrawn;
    this.#lastDrawn = last;
    before?.update({});
    last?.update({});
  }

  // The newest message still without a view gets one, above the others: on the shelf, or on the page while the
  // shelf is empty.
  #viewOlder({ onPage = false } = {}) {
    const message = this.#older.pop();
    const view = new MessageView(message, this.#callbacks);
    this.#views.unshift(view);
    if (onPage) this.#empty.after(view.element);
    else this.#shelf.prepend(view.element);
    this.#markLast();
    if (message === this.#noteFor) this.#placeNote(view);
    return view;
  }

  #placeNote(view) {
    view.element.before(this.#note);
    this.#noteView = view;
    this.#noteFor = null;
  }

  #hideNote() {
    this.#note.remove();
    this.#noteView = this.#noteFor = null;
  }

  // The next views to render in idle time, newest first: those made already (`waiting`), then new ones for older
  // messages. Rendered together, their answers share one sanitizing pass (see MessageView.renderEach), so a batch
  // holds a few, about a slice of text in all.
  #nextBatch(waiting) {
    const batch = [];
    let chars = 0;
    while (batch.length < BATCH_VIEWS && chars < BATCH_CHARS && this.#unrendered(waiting)) {
      const view = waiting.length ? waiting.pop() : this.#viewOlder();
      batch.push(view);
      chars += view.text.length;
    }
    return batch;
  }

  // Whether messages are left to render: views made already (`waiting`) or older messages with no view yet.
  #unrendered(waiting) {
    return waiting.length > 0 || this.#older.length > 0;
  }

  // Every insertion lays the whole list out again, so the shelf goes onto the page once, whole.
  #placeShelf() {
    this.#empty.after(this.#shelf);
  }

  // The newest messages the server put into the page (webui/preview.py) give way to the views made here.
  #dropOpening() {
    this.#list.querySelector(".opening-messages")?.remove();
    this.#list.classList.remove("opening");
  }

  // The newest messages are the ones in view: as many as fill the list render now, one layout each telling when
  // they do, and the rest in idle time, newest first, so that opening a long conversation costs a screenful of
  // rendering before it can be read.
  #renderNewestFirst() {
    const waiting = this.#views.filter((view) => !view.rendered);
    let height = 0;
    const renderNow = (view) => {
      view.render();
      height += view.element.offsetHeight;
    };
    const unfilled = () => height < this.#list.clientHeight;
    while (waiting.length && unfilled()) renderNow(waiting.pop());
    // The newest message gets its view at once however small the list: an answer still streaming is followed in it.
    while (!waiting.length && this.#older.length && (unfilled() || !this.#views.length)) {
      renderNow(this.#viewOlder({ onPage: true }));
    }
    const renderSome = (deadline) => {
      while (this.#unrendered(waiting) && deadline.timeRemaining() > IDLE_MARGIN) {
        MessageView.renderEach(this.#nextBatch(waiting));
      }
      if (!this.#older.length) this.#placeShelf();
      this.#follower.stick();
      this.#idle = this.#unrendered(waiting) ? whenIdle(renderSome) : 0;
    };
    this.#stopIdleWork();
    this.#idle = this.#unrendered(waiting) ? whenIdle(renderSome) : 0;
  }

  #stopIdleWork() {
    if (this.#idle) cancelIdle(this.#idle);
    this.#idle = 0;
  }
}
