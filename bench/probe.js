"use strict";
// Injected before the chat page's scripts. It relies only on the WebSocket protocol, #input and the
// answer bubble (`.message.assistant`, which has the class `streaming` while it is written), never on
// app.js internals. It records into window.__bench: long tasks, when the socket
// opened, when #input first took a keystroke, when the chat frame left, the final frame, and when the
// page had painted after the answer ended.
(() => {
  const bench = (window.__bench = {
    longtasks: [], openAt: null, inputAt: null, sentAt: null, final: null, deltas: 0, chars: 0, doneAt: null, renderedAt: null,
  });
  let requestId = null;

  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) bench.longtasks.push({ start: entry.startTime, duration: entry.duration });
  }).observe({ type: "longtask", buffered: true });

  document.addEventListener("input", (event) => {
    if (event.target.id === "input" && bench.inputAt === null) bench.inputAt = performance.now();
  }, true);

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
    }

    send(data) {
      try {
        const frame = JSON.parse(data);
        if (frame.type === "chat") {
          requestId = frame.request_id;
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
