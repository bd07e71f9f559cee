// The open conversation: its requests over the socket, the answers they stream into its view, and their resumption.
import { conversationsApi } from "./api.js";
import { ContextGauge } from "./context.js";
import { ConversationView } from "./conversation-view.js";
import { _, formatNumber } from "./i18n.js";

const newAnswer = () => ({ id: null, role: "assistant", content: "", status: "streaming" });
// A message's files go in its frame by their ids; a message without any has no such field.
const attachmentIds = (attachments) => (attachments.length ? { attachments: attachments.map((attachment) => attachment.id) } : {});
const utf8 = new TextEncoder();

export class Chat {
  #socket;
  #pickers;
  #settings;
  #notify;
  #onBusy;
  #onConversation;
  #onRefused;
  #maxRequestBytes;
  #conversation = null;
  // The request whose frames the page shows, if any: its request_id, the seq of the last delta shown, the answer's
  // message id and view; for a new message also the user's view, text and files; `started` once its start frame came.
  #pending = null;
  #requests = 0;
  // Counts the conversations opened and the new chats started: an open that is not the last of them is overtaken.
  #choices = 0;
  #view;
  #gauge;

  // pickers: value() -> {provider, model}; settings: options(), forNewConversation(); notify(text) shows a
  // page-level message; onBusy(busy); onConversation(conversation, how) with how "opened", "created" or "updated";
  // onRefused(text, attachments) gives back the text and files of a message the server refused; maxRequestBytes: the
  // largest frame it takes.
  constructor({ socket, pickers, settings, notify, onBusy, onConversation, onRefused, maxRequestBytes }) {
    this.#socket = socket;
    this.#pickers = pickers;
    this.#settings = settings;
    this.#notify = notify;
    this.#onBusy = onBusy;
    this.#onConversation = onConversation;
    this.#onRefused = onRefused;
    this.#maxRequestBytes = maxRequestBytes;
    this.#view = new ConversationView({
      onRetry: (view) => this.#retry(view),
      onRegenerate: (view) => this.#regenerate(view),
      onContinue: (view) => this.#continue(view),
      onEdit: (view, content, attachments) => this.#edit(view, content, attachments),
      onShowVersion: (messageId) => this.#showVersion(messageId),
      onStop: () => this.stop(),
    });
    this.#gauge = new ContextGauge();
  }

  busy() {
    return Boolean(this.#pending);
  }

  // The open conversation's id; null before its first message has created it.
  conversationId() {
    return this.#conversation?.id ?? null;
  }

  // `fetched` is the conversation's request if it was already made (the page asks while it starts up). An open
  // overtaken while it loads (another conversation chosen, a new chat started) changes nothing and resolves to null,
  // whether its request failed or not: only the last choice's failure is thrown.
  async open(id, fetched = conversationsApi.get(id)) {
    const choice = ++this.#choices;
    const overtaken = () => choice !== this.#choices;
    const conversation = await fetched.catch((error) => {
      if (overtaken()) return null;
      throw error;
    });
    if (overtaken()) return null;
    this.#detach();
    this.#load(conversation, "opened");
    return conversation;
  }

  startNew() {
    this.#choices += 1;
    this.#detach();
    this.#conversation = null;
  }

  // `attachments`: the uploaded files the message carries (docs/api.md); it may then have no text.
  send(content, attachments = []) {
    if (!this.#canSend()) return false;
    const frame = { content, ...attachmentIds(attachments) };
    if (!this.#conversation) Object.assign(frame, this.#settings.forNewConversation());
    if (!this.#fits(frame)) return false;
    const userView = this.#view.add({ id: null, role: "user", content, attachments, status: "complete" });
    this.#dispatch(frame, { view: this.#startAnswer(), userView, content, attachments });
    return true;
  }

  stop() {
    if (this.#pending) this.#socket.send({ type: "stop", request_id: this.#pending.requestId });
  }

  handleFrame(frame) {
    const pending = this.#pending;
    if (!pending || frame.request_id !== pending.requestId) {
      if (frame.type === "error" && frame.request_id === null) this.#notify(frame.message);
      return;
    }
    if (frame.type === "start") this.#started(frame);
    else if (frame.type === "delta" && frame.seq > pending.lastSeq) {
      pending.lastSeq = frame.seq;
      pending.view.appendDelta(frame.text);
    } else if (frame.type === "done" || frame.type === "error") this.#finished(frame);
  }

  // Asks for the rest of the answer being followed, from the last delta shown: on every connect, and on picking one up.
  resume() {
    const pending = this.#pending;
    if (!pending) return;
    if (!pending.messageId) {
      this.#finished({ type: "error", message: _("The connection was lost before the answer started.") });
      return;
    }
    pending.requestId = `r${++this.#requests}`;
    this.#socket.send({ type: "resume", request_id: pending.requestId, message_id: pending.messageId, after: pending.lastSeq });
  }

  #setBusy(busy) {
    this.#view.setBusy(busy);
    this.#onBusy(busy);
  }

  // Frames of a request left running in another conversation are ignored from now on; the server still stores it.
  #detach() {
    this.#pending = null;
    this.#setBusy(false);
    this.#view.clear();
    this.#gauge.show(null);
  }

  // An answer the server still calls streaming is followed: one still being written, or one whose end the
  // server stored after telling us (resume then replays its stored text and final frame).
  #load(conversation, how = "updated") {
    this.#conversation = conversation;
    this.#view.show(conversation.messages, { scroll: how === "opened" });
    this.#onConversation(conversation, how);
    const last = conversation.messages.at(-1);
    const answer = last?.role === "assistant" ? this.#view.last() : null;
    this.#showContext(answer, answer && last.stats?.context);
    if (answer && last.status === "streaming" && !this.#pending) this.#followAnswer(answer);
  }

  // Re-reads the conversation after an answer ends: ids of new versions, stored stats, the server's title.
  async #sync() {
    const id = this.#conversation?.id;
    const conversation = id && (await conversationsApi.get(id).catch(() => null));
    if (conversation && !this.#pending && this.#conversation?.id === id) this.#load(conversation);
  }

  #canSend() {
    if (this.#pending) return false;
    if (!this.#socket.open) {
      this.#notify(_("Not connected yet; try again in a moment."));
      return false;
    }
    return true;
  }

  #chatFrame(frame, requestId) {
    return {
      type: "chat",
      request_id: requestId,
      conversation_id: this.#conversation?.id ?? null,
      ...this.#pickers.value(),
      options: this.#settings.options(),
      ...frame,
    };
  }

  // The server refuses a frame larger than its limit: such a message is not sent, and its text stays where it is.
  #fits(frame) {
    const bytes = utf8.encode(JSON.stringify(this.#chatFrame(frame, `r${this.#requests + 1}`))).length;
    if (bytes <= this.#maxRequestBytes) return true;
    this.#notify(
      _("This message is too long to send: %(size)s KB, and the server takes at most %(limit)s KB. Shorten it or send it in parts.", {
        size: formatNumber(Math.ceil(bytes / 1024)),
        limit: formatNumber(Math.floor(this.#maxRequestBytes / 1024)),
      }),
    );
    return false;
  }

  #dispatch(frame, pending) {
    const requestId = `r${++this.#requests}`;
    this.#pending = { requestId, lastSeq: 0, messageId: frame.action === "continue" ? frame.message_id : null, ...pending };
    this.#setBusy(true);
    this.#socket.send(this.#chatFrame(frame, requestId));
  }

  #startAnswer() {
    const view = this.#view.add(newAnswer());
    view.startStream();
    return view;
  }

  #regenerate(view) {
    if (!this.#canSend()) return;
    this.#view.truncateFrom(view);
    this.#dispatch({ action: "regenerate", message_id: view.id }, { view: this.#startAnswer() });
  }

  #continue(view) {
    if (!this.#canSend()) return;
    view.startStream({ keepText: true });
    this.#view.follow();
    this.#dispatch({ action: "continue", message_id: view.id }, { view });
  }

  #edit(view, content, attachments) {
    const frame = { action: "edit", message_id: view.id, content, ...attachmentIds(attachments) };
    if (!this.#canSend() || !this.#fits(frame)) return;
    this.#view.truncateFrom(view);
    const userView = this.#view.add({ id: null, role: "user", content, attachments, status: "complete" });
    this.#dispatch(frame, { view: this.#startAnswer(), userView, content, attachments });
  }

  // An answer the server stored is regenerated; one that failed before the server stored anything is sent again.
  #retry(view) {
    if (view.id) {
      this.#regenerate(view);
      return;
    }
    const userView = this.#view.previous(view);
    if (!this.#canSend()) return;
    this.#view.truncateFrom(userView);
    this.send(userView.text, userView.attachments);
  }

  async #showVersion(messageId) {
    try {
      this.#load(await conversationsApi.update(this.#conversation.id, { leaf_id: messageId }));
    } catch (error) {
      this.#notify(error.message);
    }
  }

  #started(frame) {
    const pending = this.#pending;
    const { view, userView } = pending;
    pending.started = true;
    pending.messageId = frame.message_id ?? null;
    // A resumed answer that had already ended comes back whole, in deltas numbered from 1: they replace our text.
    if (frame.replay) {
      pending.lastSeq = 0;
      view.replaceText("");
    }
    view.update({ id: frame.message_id ?? null, provider: frame.provider, model: frame.model });
    if (frame.user_message_id) userView?.update({ id: frame.user_message_id });
    this.#showContext(view, frame.context);
    if (!this.#conversation && frame.conversation_id) {
      this.#conversation = { id: frame.conversation_id, title: "", messages: [] };
      this.#onConversation(this.#conversation, "created");
    }
  }

  #showContext(view, context) {
    this.#view.showContext(view, context);
    this.#gauge.show(context);
  }

  #finished(frame) {
    const { view, userView, content, attachments, started } = this.#pending;
    this.#pending = null;
    this.#setBusy(false);
    // Refused by the server before it started (too long, a provider that cannot answer, a limit), the message was not
    // stored: it leaves the list and its text and files go back to the composer, to be changed or sent elsewhere. A
    // connection lost before the start (no code) keeps it in the list, with Retry.
    if (!started && content !== undefined && frame.code) {
      this.#view.truncateFrom(userView);
      this.#onRefused(content, attachments);
      this.#notify(frame.message);
      this.#sync();
      return;
    }
    const status = frame.reason || (frame.type === "error" ? "error" : "complete");
    const error = frame.message ? { code: frame.code, message: frame.message } : null;
    view.endStream({ status, stats: frame.stats, error });
    // Until the server has written an answer it could not save (storage_failed), its stored copy is behind the text
    // shown here: reading it back would replace the text with less of it.
    if (view.id && frame.code !== "storage_failed") this.#sync();
  }

  // Picks up an answer that is still being written: after a reconnect, or when the page opens mid-answer.
  #followAnswer(view) {
    this.#pending = { requestId: null, lastSeq: 0, messageId: view.id, view };
    this.#setBusy(true);
    view.startStream();
    if (this.#socket.open) this.resume();
  }
}
