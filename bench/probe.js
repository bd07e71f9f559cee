"use strict";
// Injected before the chat page's scripts. It relies only on the WebSocket protocol, #input and the
// answer bubble (`.message.assistant`, whose `.text` holds the answer and which has the class `streaming`
// while it is written), never on app.js internals. It records into window.__bench: long tasks, when the socket
// opened, when #input first took a keystroke, when the chat frame left, the final frame, and when the
// page had painted after the answer ended. With window.__benchNaive it also re-renders the whole
// answer as Markdown on every delta: the naive renderer the product is compared with.
(() => {
  const bench = (window.__bench = {
    longtasks: [], openAt: null, inputAt: null, sentAt: null, final: null, deltas: 0, chars: 0, doneAt: null, renderedAt: null,
  });
  let requestId = null;
  let answer = "";

  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) bench.longtasks.push({ start: entry.startTime, duration: entry.duration });
  }).observe({ type: "longtask", buffered: true });

  document.addEventListener("input", (event) => {
    if (event.target.id === "input" && bench.inputAt === null) bench.inputAt = performance.now();
  }, true);

  const escape = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const inline = (s) => escape(s)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/\*([^*]+)\*/g, "<em>$1</em>")
    .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, '<a href="$2">$1</a>');
  const block = (text) => {
    if (text.startsWith("```")) return `<pre><code>${escape(text.replace(/^```\w*\n?|```\s*$/g, ""))}</code></pre>`;
    const heading = /^(#{1,6}) (.*)$/s.exec(text);
    if (heading) return `<h${heading[1].length}>${inline(heading[2])}</h${heading[1].length}>`;
    const lines = text.split("\n");
    if (text.startsWith("- ")) return `<ul>${lines.map((l) => `<li>${inline(l.replace(/^- /, ""))}</li>`).join("")}</ul>`;
    if (text.startsWith("|")) {
      const rows = lines.filter((l) => !/^\|[\s|:-]+\|?$/.test(l));
      return `<table>${rows.map((l) => `<tr>${l.split("|").slice(1, -1).map((c) => `<td>${inline(c.trim())}</td>`).join("")}</tr>`).join("")}</table>`;
    }
    return `<p>${inline(text)}</p>`;
  };
  const markdown = (source) => source.split(/\n{2,}/).filter((t) => t.trim()).map(block).join("");

  function rerenderWhole(event) {
    const frame = JSON.parse(event.data);
    if (frame.type !== "delta" || frame.request_id !== requestId) return;
    answer += frame.text;
    const bodies = document.querySelectorAll(".message.assistant .text");
    if (bodies.length) bodies[bodies.length - 1].innerHTML = markdown(answer);
  }

  function record(event) {
    const frame = JSON.parse(event.data);
    if (frame.request_id !== requestId) return;
    if (frame.type === "delta") {
      bench.deltas += 1;
      bench.chars += frame.text.length;
    } else if (frame.type === "done" || frame.type === "error") {
      bench.final = frame;
      requestAnimationFrame(markRendered);
    }
  }

  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener("open", () => { bench.openAt ??= performance.now(); });
      this.addEventListener("message", record);
      // A microtask runs after the page's own script has added its listeners, so this one runs after them.
      if (window.__benchNaive) queueMicrotask(() => this.addEventListener("message", rerenderWhole));
    }

    send(data) {
      try {
        const frame = JSON.parse(data);
        if (frame.type === "chat") {
          requestId = frame.request_id;
          answer = "";
          bench.sentAt = performance.now();
        }
      } catch (error) {
        // Not JSON: not ours to time.
      }
      super.send(data);
    }
  };

  // The page may re-render the answer's bubble when it ends (a new node, not a class change), so the end
  // is: the final frame has arrived and no answer is streaming any more on screen.
  function markRendered() {
    if (bench.doneAt !== null) return;
    if (document.querySelector(".message.assistant.streaming")) {
      requestAnimationFrame(markRendered);
      return;
    }
    bench.doneAt = performance.now();
    // The callback of a timeout set in a frame callback runs once that frame has been painted.
    requestAnimationFrame(() => setTimeout(() => { bench.renderedAt = performance.now(); }));
  }
})();
