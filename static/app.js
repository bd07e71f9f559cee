"use strict";
// The chat page: provider and model pickers, a WebSocket to /ws, answers streamed into the page.
(() => {
  const catalog = JSON.parse(document.getElementById("messages-catalog").textContent);
  // Same placeholders as Python's gettext: %(name)s.
  const _ = (msgid, values) => (catalog[msgid] || msgid).replace(/%\((\w+)\)s/g, (m, key) => String(values[key]));

  const $ = (id) => document.getElementById(id);
  const providerSelect = $("provider");
  const modelSelect = $("model");
  const list = $("messages");
  const input = $("input");
  const sendButton = $("send");
  const stopButton = $("stop");
  const status = $("status");

  const history = [];
  let providers = [];
  let socket = null;
  let retryDelay = 500;
  let current = null;
  let nextId = 1;

  function addMessage(role, text) {
    $("empty")?.remove();
    const node = document.createElement("article");
    node.className = `message ${role}`;
    const body = document.createElement("div");
    body.className = "text";
    body.textContent = text;
    node.append(body);
    list.append(node);
    list.scrollTop = list.scrollHeight;
    return node;
  }

  function addNote(node, className, text) {
    const note = document.createElement("div");
    note.className = className;
    note.textContent = text;
    node.append(note);
  }

  function setBusy(busy) {
    sendButton.disabled = busy;
    stopButton.hidden = !busy;
  }

  function selectedProvider() {
    return providers.find((p) => p.name === providerSelect.value);
  }

  function fillModels() {
    const provider = selectedProvider();
    modelSelect.replaceChildren();
    $("provider-error").textContent = provider && !provider.available ? provider.error : "";
    for (const name of provider ? provider.models : []) {
      modelSelect.append(new Option(name, name, false, name === provider.default_model));
    }
  }

  async function loadProviders() {
    try {
      const response = await fetch("api/providers");
      const listing = await response.json();
      providers = listing.providers;
      providerSelect.replaceChildren();
      for (const p of providers) {
        const label = p.available ? p.label : _("%(name)s (unavailable)", { name: p.label });
        providerSelect.append(new Option(label, p.name, false, p.name === listing.default));
      }
      fillModels();
    } catch (error) {
      status.textContent = _("Could not load the list of providers.");
    }
  }

  function connect() {
    const url = new URL("ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      retryDelay = 500;
      status.textContent = "";
    });
    socket.addEventListener("message", (event) => handleFrame(JSON.parse(event.data)));
    socket.addEventListener("close", () => {
      if (current) finish(_("The connection was lost; the answer stopped here."));
      status.textContent = _("Disconnected. Reconnecting…");
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    });
  }

  function finish(error) {
    const { node, text } = current;
    node.classList.remove("streaming");
    if (text) history.push({ role: "assistant", content: text });
    if (error) addNote(node, "error", error);
    current = null;
    setBusy(false);
  }

  function handleFrame(frame) {
    if (!current || frame.request_id !== current.id) {
      if (frame.type === "error" && frame.request_id === null) status.textContent = frame.message;
      return;
    }
    const { node } = current;
    if (frame.type === "start") {
      current.meta = `${frame.provider} · ${frame.model}`;
    } else if (frame.type === "delta") {
      current.text += frame.text;
      current.body.append(frame.text);
      list.scrollTop = list.scrollHeight;
    } else if (frame.type === "done") {
      const s = frame.stats;
      const seconds = Math.max((s.duration_ms - (s.ttft_ms || 0)) / 1000, 0.001);
      const parts = [current.meta];
      if (s.ttft_ms !== null) parts.push(_("first token in %(ms)s ms", { ms: Math.round(s.ttft_ms) }));
      parts.push(_("%(rate)s chunks/s", { rate: (s.chunks / seconds).toFixed(1) }));
      if (frame.reason === "stopped") parts.push(_("stopped"));
      addNote(node, "meta", parts.filter(Boolean).join(" · "));
      finish(null);
    } else if (frame.type === "error") {
      finish(frame.message);
    }
  }

  function send() {
    const content = input.value.trim();
    if (!content || current) return;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      status.textContent = _("Not connected yet; try again in a moment.");
      return;
    }
    history.push({ role: "user", content });
    addMessage("user", content);
    input.value = "";
    input.style.height = "";
    const node = addMessage("assistant", "");
    node.classList.add("streaming");
    current = { id: `r${nextId++}`, node, body: node.querySelector(".text"), text: "", meta: "" };
    setBusy(true);
    socket.send(JSON.stringify({
      type: "chat",
      request_id: current.id,
      provider: providerSelect.value,
      model: modelSelect.value,
      messages: history,
    }));
  }

  function stop() {
    if (current && socket?.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "stop", request_id: current.id }));
    }
  }

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  stopButton.addEventListener("click", stop);
  providerSelect.addEventListener("change", fillModels);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    } else if (event.key === "Escape") {
      stop();
    }
  });
  input.addEventListener("input", () => {
    input.style.height = "";
    input.style.height = `${input.scrollHeight}px`;
  });

  loadProviders();
  connect();
})();
