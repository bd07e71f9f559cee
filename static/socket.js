// The WebSocket to /ws: JSON frames, reconnecting with back-off while the page stays open.
import { appUrl } from "./api.js";
import { $ } from "./dom.js";
import { _ } from "./i18n.js";

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10000;
// The close code of a server that is restarting: it has ended our answers and will be back shortly.
const SERVICE_RESTART = 1012;

export class Socket {
  #onFrame;
  #onOpen;
  #socket = null;
  #delay = FIRST_DELAY_MS;
  #status = $("connection");

  constructor({ onFrame, onOpen }) {
    this.#onFrame = onFrame;
    this.#onOpen = onOpen;
  }

  get open() {
    return this.#socket?.readyState === WebSocket.OPEN;
  }

  connect() {
    const url = appUrl("ws");
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    this.#socket = new WebSocket(url);
    this.#socket.addEventListener("open", () => {
      this.#delay = FIRST_DELAY_MS;
      this.#showStatus("online", "");
      this.#onOpen();
    });
    this.#socket.addEventListener("message", (event) => this.#onFrame(JSON.parse(event.data)));
    this.#socket.addEventListener("close", (event) => this.#reconnectLater(event.code === SERVICE_RESTART));
  }

  // Jitter keeps many pages from reconnecting to a restarted server in the same instant.
  #reconnectLater(restarting) {
    this.#showStatus("offline", restarting ? _("The server is restarting. Reconnecting…") : _("Disconnected. Reconnecting…"));
    setTimeout(() => this.connect(), this.#delay * (0.75 + Math.random() / 2));
    this.#delay = Math.min(this.#delay * 2, MAX_DELAY_MS);
  }

  send(frame) {
    if (!this.open) return false;
    this.#socket.send(JSON.stringify(frame));
    return true;
  }

  #showStatus(state, text) {
    this.#status.dataset.state = state;
    this.#status.textContent = text;
  }
}
