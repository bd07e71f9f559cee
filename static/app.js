// The chat page: wires the conversations list, the open conversation, the composer and the socket together.
import { appUrl, conversationsApi } from "./api.js";
import { AttachmentTray } from "./attachments.js";
import { Chat } from "./chat.js";
import { $ } from "./dom.js";
import { _ } from "./i18n.js";
import { Pickers } from "./pickers.js";
import { Presets } from "./presets.js";
import { setUpHealthCheck } from "./health.js";
import { setUpQrCode } from "./qr.js";
import { Settings } from "./settings.js";
import { Sidebar } from "./sidebar.js";
import { Socket } from "./socket.js";

const input = $("input");
const rootPath = appUrl("").pathname;

const notify = (text) => ($("notice").textContent = text);

function conversationIdFromUrl() {
  const match = location.pathname.slice(rootPath.length).match(/^c\/([^/]+)$/);
  return match ? decodeURIComponent(match[1]) : null;
}

function showTitle(title) {
  const shown = title || _("New conversation");
  $("title").textContent = shown;
  // Babel does not read calls inside a template literal: the translated strings are looked up outside it.
  document.title = [shown, _("Chat")].join(" · ");
}

function onBusy(busy) {
  $("send").hidden = busy;
  $("stop").hidden = !busy;
}

function onConversation(conversation, how) {
  showTitle(conversation.title);
  sidebar.setCurrent(conversation.id);
  presets.showPicker(false);
  if (how === "opened") {
    pickers.choose(conversation.provider, conversation.model);
    settings.load(conversation);
  } else {
    sidebar.refresh();
  }
  if (how === "created") {
    $("first-run")?.remove();
    history.pushState(null, "", appUrl(`c/${encodeURIComponent(conversation.id)}`).pathname);
    settings.attach(conversation);
  }
}

async function openConversation(id, { push, fetched }) {
  // The address names the conversation at once: a reload or a copied link while a long one loads finds it.
  const path = appUrl(`c/${encodeURIComponent(id)}`).pathname;
  if (push) history.pushState(null, "", path);
  try {
    if (await chat.open(id, fetched)) notify("");
  } catch (error) {
    // The page shows a new chat instead. Only the conversation chosen last fails here: one overtaken by another
    // choice while it loaded changes nothing (chat.open resolves it to null).
    if (push && location.pathname === path) history.replaceState(null, "", rootPath);
    notify(error.status === 404 ? _("This conversation does not exist or was deleted.") : error.message);
    startNew({ push: false });
  }
}

// A new chat starts from the user's default preset; the picker on its screen chooses another.
function startNew({ push }) {
  chat.startNew();
  settings.load(null, presets.default());
  presets.showPicker(true);
  showTitle("");
  sidebar.setCurrent(null);
  // Only a person's "New chat" moves the focus: on load it stays at the top, where a screen reader starts.
  if (push) {
    history.pushState(null, "", rootPath);
    input.focus();
  }
}

function route(fetched) {
  const id = conversationIdFromUrl();
  if (id) openConversation(id, { push: false, fetched });
  else startNew({ push: false });
}

function resizeInput() {
  input.style.height = "";
  input.style.height = `${input.scrollHeight}px`;
}

// A message the server refused without storing it (too long, a provider that cannot answer, a limit) comes back,
// unless something else was typed or attached since.
function onRefused(text, attachments = []) {
  if (!input.value.trim()) {
    input.value = text;
    resizeInput();
  }
  tray.restore(attachments);
  input.focus();
}

// Send waits for the files being uploaded.
function showSendable() {
  $("send").disabled = tray.uploading();
}

function submit() {
  const content = input.value.trim();
  if (tray.uploading()) {
    notify(_("Wait until the files are uploaded, then send."));
    return;
  }
  const failure = tray.failure();
  if (failure) {
    notify([failure, _("Remove the files that could not be attached, then send.")].join(" "));
    return;
  }
  const attachments = tray.attachments();
  if ((!content && !attachments.length) || !chat.send(content, attachments)) return;
  notify("");
  input.value = "";
  resizeInput();
  tray.clear();
}

const settings = new Settings({ conversationId: () => chat.conversationId() });
const pickers = new Pickers({
  notify,
  onChange: (choice) => chat.conversationId() && conversationsApi.update(chat.conversationId(), choice).catch((error) => notify(error.message)),
  onShown: (provider) => settings.showDefaults(provider?.defaults || {}),
});
const presets = new Presets({ settings, notify, onPick: (preset) => settings.load(null, preset) });
// A title frame names a new conversation after its first answer (docs/protocol.md); every other frame is a request's.
function onFrame(frame) {
  if (frame.type !== "title") {
    chat.handleFrame(frame);
    return;
  }
  if (frame.conversation_id === chat.conversationId()) showTitle(frame.title);
  sidebar.refresh();
}

const socket = new Socket({ onFrame, onOpen: () => chat.resume() });
const sidebar = new Sidebar({
  notify,
  onOpen: (id) => openConversation(id, { push: true }),
  onNew: () => startNew({ push: true }),
  onTitle: (id, title) => id === chat.conversationId() && showTitle(title),
});
const maxRequestBytes = Number(document.body.dataset.maxRequestBytes);
const tray = new AttachmentTray({
  notify,
  onChange: showSendable,
  max: Number(document.body.dataset.maxAttachments),
  maxBytes: Number(document.body.dataset.maxUploadBytes),
});
const chat = new Chat({ socket, pickers, settings, notify, onBusy, onConversation, onRefused, maxRequestBytes });

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
$("stop").addEventListener("click", () => chat.stop());
input.addEventListener("input", resizeInput);
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  }
});
// Esc stops the answer from anywhere on the page, except where it already means "close this".
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && chat.busy() && !document.querySelector("dialog[open]")) chat.stop();
});
window.addEventListener("popstate", () => route());

setUpQrCode();
setUpHealthCheck();
// A dialog a person opens now and then loads its modules when first opened, not with the page: Settings → Connections
// (an admin's page only; five modules) and the API tokens. `make` imports them and builds the dialog's object, once;
// a module that failed to load is said on the page and asked for again at the next click.
function openOnClick(openers, make) {
  let made = null;
  for (const opener of openers) {
    opener.addEventListener("click", async (event) => {
      event.preventDefault();
      made ??= make().catch((error) => {
        made = null;
        throw error;
      });
      try {
        (await made).open();
      } catch {
        notify(_("This part of the page did not load. Check the connection to the server and try again."));
      }
    });
  }
}

// A change to the connections or the modules' keys shows in the provider list at once.
openOnClick($("connections") ? document.querySelectorAll("[data-open-connections]") : [], () =>
  import("./connections.js").then(({ Connections }) => new Connections({ onChange: () => pickers.load() })),
);
openOnClick([$("open-api-tokens")], () => import("./api-tokens.js").then(({ ApiTokens }) => new ApiTokens()));
socket.connect();
sidebar.refresh();
pickers.load();
// The server put the conversation in the address into the page, if it is this visitor's: no round trip to wait for.
const embedded = $("conversation-data");
route(embedded ? Promise.resolve(JSON.parse(embedded.textContent)) : undefined);
// The presets come after the page has opened: a new chat still empty then takes the default's settings.
presets.load().then(() => {
  if (!chat.conversationId() && !conversationIdFromUrl()) {
    settings.load(null, presets.default());
    presets.showPicker(true);
  }
});
