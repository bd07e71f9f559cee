"""The writers of cursors: one WebSocket's sending side (Writer), or frames the code that waits for them takes.

A socket's Writer is the one thread (a greenlet under gevent) that writes to its socket. Invariants:
- Only the writer sends on the socket, so frames, the library's own bytes and the close frame leave whole, in the
  order they were queued. Its lock guards the queue only, never a wait.
- A request's chunks are not copied here: its cursor is queued at most once (`cursor.queued`), and its turn takes
  every chunk the answer has past it, so a reader that is behind gets fewer, larger frames (answer.py says why none is
  missed).
- After writing chunks the writer rests for the pacer's gap, so chunks that come meanwhile leave as one frame; anything
  else queued, or the end of an answer (no chunk will join what is left of it), ends the rest.
- A reader that takes nothing for WEBUI_SEND_TIMEOUT_SECONDS, or leaves more than WEBUI_MAX_QUEUED_BYTES of whole
  frames waiting, has its connection cut; it holds up no other socket.
"""
import json
import logging
import select
import socket
import threading
import time

from ..access.limits import cut
from ..cooperative import native_lock, rest, send_without_waiting
from .answer import Cursor

log = logging.getLogger(__name__)

# The gap while few sockets write: a provider yielding thousands of chunks a second costs the page a frame per 10 ms.
MIN_GAP_SECONDS = 0.01
# The writes per second all sockets together aim to stay under: with N sockets writing, the gap is N / this.
WRITES_PER_SECOND = 10_000
# The window over which the writing sockets are counted.
WINDOW_SECONDS = 0.1
# How long a socket's handler, as it returns, waits for the library's close frame to leave.
CLOSE_SECONDS = 1.0
# The most frames a cursor makes a turn (of at most answer.FRAME_CHARS each) before it waits behind the rest of the
# queue: a long replay neither starves the other requests nor holds more than half a million characters encoded.
FRAMES_PER_TURN = 32
# A frame's JSON, as json.dumps(frame, ensure_ascii=False) makes it, without building an encoder for each frame.
frame_json = json.JSONEncoder(ensure_ascii=False).encode


def frame_text(frame):
    """A frame's JSON, as frame_json() makes it. A delta's, which every chunk makes, is written out: json's general
    path for a dict builds an encoder on each call and costs three times this (a request id may be a number)."""
    if frame["type"] != "delta":
        return frame_json(frame)
    request_id = frame["request_id"]
    if request_id.__class__ is str:
        request_id = frame_json(request_id)
    text = frame_json(frame["text"])
    return f'{{"type": "delta", "request_id": {request_id}, "seq": {frame["seq"]}, "text": {text}}}'


class Pacer:
    """How long a writer rests after writing chunks: MIN_GAP_SECONDS while few sockets write, longer as they grow."""

    def __init__(self, clock=time.monotonic):
        """No socket has written yet."""
        self._clock, self._lock = clock, native_lock()
        self._window_end, self._writers, self._gap = 0.0, set(), MIN_GAP_SECONDS

    def wrote(self, writer):
        """Count a write of chunks; the gap that follows it, set by the writers counted in the window before."""
        now = self._clock()
        with self._lock:
            if now >= self._window_end:
                recent = now < self._window_end + WINDOW_SECONDS
                self._gap = max(MIN_GAP_SECONDS, len(self._writers) / WRITES_PER_SECOND) if recent else MIN_GAP_SECONDS
                self._writers, self._window_end = set(), now + WINDOW_SECONDS
            self._writers.add(writer)
            return self._gap

    def rest(self, writer, until):
        """Rest `writer`, which has just written chunks, for the gap that follows, or until the event `until` is set."""
        rest(until, self.wrote(writer))


class Writer:
    """The frames (JSON text), cursors, library bytes and close frame waiting for one WebSocket, and its thread."""

    def __init__(self, raw, encode, pacer, send_timeout=30.0, max_bytes=0):
        """`raw` is the socket; `encode(text)` makes the bytes of one text message; `max_bytes` bounds the whole frames
        waiting (0: no bound). The thread starts at once and ends when the writer closes."""
        self._raw, self._send, self.encode, self.pacer = raw, send_without_waiting(raw), encode, pacer
        self.send_timeout, self.max_bytes = send_timeout, max_bytes
        self.closed = self._ending = False
        self._lock = native_lock()
        # `_wanted`: the queue has something or the writer has closed; cleared, under the lock, only by the thread when
        # it finds the queue empty. `_urgent`: something that must not wait out a gap (all but chunks) is queued.
        self._wanted, self._urgent = threading.Event(), threading.Event()
        self._queue, self._queued_bytes = [], 0
        self._thread = threading.Thread(target=self._run, name="webui-writer", daemon=True)
        self._thread.start()

    def put(self, frame):
        """Queue a whole frame (a dict); False once the socket is gone, or cut for leaving too much waiting."""
        text = frame_json(frame)
        with self._lock:
            if self.closed or self._ending:
                return False
            self._queued_bytes += len(text)
            waiting = self._queued_bytes
            if not self.max_bytes or waiting <= self.max_bytes:
                return self._add(text)
            self._close()
        log.warning("a WebSocket reader left %d bytes of frames waiting; cutting its connection", waiting)
        return False

    def wake(self, cursor):
        """Queue a cursor that has something to send, unless it is queued already; what is left of an answer that
        has ended is urgent."""
        with self._lock:
            if self.closed:
                return
            if not cursor.queued:
                cursor.queued = True
                self._queue.append(cursor)
                self._wanted.set()
            if cursor.urgent:
                self._urgent.set()

    def put_bytes(self, data):
        """Queue bytes of the WebSocket library's own, to leave after what is queued (none after the close frame)."""
        with self._lock:
            if not self.closed and not self._ending:
                self._add(bytes(data))

    def end(self, close_frame):
        """Queue the close frame, made by `close_frame()` when its turn comes (the library must see the frames before
        it); nothing is queued after it, and the socket is shut for writing once it has left."""
        with self._lock:
            if not self.closed and not self._ending:
                self._ending = True
                self._add(close_frame)

    def close(self):
        """The socket's handler is done: frames still queued are dropped, the library's bytes (its close frame) leave
        within CLOSE_SECONDS, and the thread ends."""
        with self._lock:
            if self.closed:
                return
            self._queue = [item for item in self._queue if isinstance(item, bytes)]
            self.closed = True
            self._wanted.set()
        self._thread.join(CLOSE_SECONDS)

    def _add(self, item):
        """Queue an urgent item and wake the thread, under the lock."""
        self._queue.append(item)
        self._wanted.set()
        self._urgent.set()
        return True

    def _close(self):
        """Drop the queue and cut the connection, under the lock: the socket's handler sees it end and returns."""
        if not self.closed:
            self.closed = True
            self._queue.clear()
            self._wanted.set()
            cut(self._raw)

    def _take(self):
        """Wait for something to send and take all of it; None once closed. Cursors are unqueued here, before their
        answers are read."""
        while True:
            with self._lock:
                if self._queue:
                    items, self._queue, self._queued_bytes = self._queue, [], 0
                    self._urgent.clear()
                    for item in items:
                        if isinstance(item, Cursor):
                            item.queued = False
                    return items
                if self.closed:
                    return None
                self._wanted.clear()
            self._wanted.wait()

    def _run(self):
        """Write until the writer closes; a failure cuts this socket only."""
        cut_off = True
        try:
            while (items := self._take()) is not None:
                data, chunks, closing = self._encode(items)
                if not self._send_all(data):
                    break
                if closing:
                    # Nothing may follow the close frame (a WSGI server may write an HTTP response after the handler);
                    # the client's answer to it can still be read.
                    cut_off = False
                    try:
                        self._raw.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass  # the client has gone already
                    break
                if chunks:
                    self.pacer.rest(self, self._urgent)
            else:
                cut_off = False
        except ConnectionError:
            pass  # the library has closed the connection: nothing more can be written
        except Exception:
            log.exception("a WebSocket's writer failed; cutting its connection")
        finally:
            with self._lock:
                if cut_off:
                    self._close()
                self.closed = True
                self._queue.clear()

    def _encode(self, items):
        """The bytes of the items in order, whether any carried chunks, and whether the close frame is among them; a
        cursor with more to send is queued again, behind what came meanwhile."""
        parts, chunks, closing = [], False, False
        for item in items:
            if isinstance(item, bytes):
                parts.append(item)
            elif isinstance(item, str):
                parts.append(self._encode_text(item))
            elif isinstance(item, Cursor):
                frames, more = item.take(FRAMES_PER_TURN)
                chunks = chunks or any(frame["type"] == "delta" for frame in frames)
                parts.extend(self._encode_text(frame_text(frame)) for frame in frames)
                if more:
                    self.wake(item)
            else:
                parts.append(item())
                closing = True
        return b"".join(parts), chunks, closing

    def _encode_text(self, text):
        """The bytes of one frame's JSON."""
        try:
            return self.encode(text)
        except UnicodeEncodeError:
            # A lone surrogate (half of a split emoji, say) is not UTF-8; escaped, it is still valid JSON.
            return self.encode(json.dumps(json.loads(text)))

    def _send_all(self, data):
        """Send all of `data`, waiting for the reader at most `send_timeout` seconds in all; False if the connection
        is gone or the reader is stuck."""
        view, deadline = memoryview(data), time.monotonic() + self.send_timeout
        while view:
            try:
                view = view[self._send(view) :]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                return False
            if view:
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning("a WebSocket reader took nothing for %g s; cutting its connection", self.send_timeout)
                    return False
                select.select([], [self._raw], [], left)
        return True


class PullWriter:
    """The writer of a cursor whose frames the code waiting for them takes itself, instead of a socket's thread: an
    API response, woken by a chunk or the final frame, or the health check once the answer ended. The invariant of a
    socket's writer holds: the cursor is marked queued when woken and unmarked before its frames are taken, so a chunk
    that skips waking it is taken by that read."""

    def __init__(self):
        """Nothing to take yet."""
        self.ready = threading.Event()
        # Set once the answer has ended: what is left, and the final frame, must not wait out a pacing gap.
        self.ending = threading.Event()

    def wake(self, cursor):
        """The cursor has frames to send."""
        cursor.queued = True
        if cursor.urgent:
            self.ending.set()
        self.ready.set()

    def take(self, cursor, seconds):
        """Every frame the cursor has not sent, waiting up to `seconds` for one; [] when none came."""
        if not self.ready.is_set():
            rest(self.ready, seconds)
            if not self.ready.is_set():
                return []
        self.ready.clear()
        cursor.queued = False
        return cursor.take(float("inf"))[0]


def init_app(app):
    """Give the app the pacer its sockets share."""
    app.extensions["webui.pacer"] = Pacer()
