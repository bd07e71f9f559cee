"""One WebSocket's sending side: the writer, the one thread (a greenlet under gevent) that writes to its socket.

Invariants:
- Only the writer sends on the socket: frames, the WebSocket library's own bytes (pings, pongs, close) and the close
  frame leave in the order they were queued, never one inside another.
- Whoever has something to send queues it under the writer's lock and wakes the writer; nobody else waits on the
  socket. A request's chunks are not copied here: its cursor (see answer.Cursor) is queued at most once, and the writer
  takes every chunk the answer has past the cursor when its turn comes, so a reader that is behind gets fewer, larger
  frames. The answer adds a chunk before it wakes the cursor, and the writer unqueues the cursor before it reads the
  answer, each under a lock: a chunk is either read by a take under way or wakes the cursor again; none is missed.
- After writing chunks the writer rests for the pacer's gap, so the chunks that come meanwhile leave as one frame;
  anything else queued (a final frame, an error, the library's bytes) ends the rest at once.
- A reader that takes nothing for WEBUI_SEND_TIMEOUT_SECONDS, or leaves more than WEBUI_MAX_QUEUED_BYTES of whole
  frames waiting, has its connection cut; it holds up no other socket.
"""
import json
import logging
import select
import socket
import threading
import time

from .answer import Cursor
from .cooperative import native_lock, rest, send_without_waiting
from .limits import cut

log = logging.getLogger(__name__)

# A socket writes chunks at most this often while few sockets are busy: a provider that yields thousands of chunks
# a second costs the page a frame per 10 ms (less than a screen's refresh), not one per chunk; chunks further apart
# leave at once.
MIN_GAP_SECONDS = 0.01
# The writes per second all sockets together aim to stay under: with N sockets writing, each sleeps N / this many
# seconds after it wrote chunks, and what comes meanwhile leaves as one frame.
WRITES_PER_SECOND = 12_500
# The window over which the writing sockets are counted.
WINDOW_SECONDS = 0.1
# How long a socket's handler, as it returns, waits for the bytes of the library's close frame to leave.
CLOSE_SECONDS = 1.0
# A cursor makes at most this many frames a turn (of at most answer.FRAME_CHARS each), then waits behind the rest of the
# queue: a long replay neither starves the other requests nor holds more than half a million characters encoded, and a
# fast answer's backlog of one gap leaves in one turn.
FRAMES_PER_TURN = 32
# A frame's JSON, as json.dumps(frame, ensure_ascii=False) makes it, without building an encoder for each frame.
frame_json = json.JSONEncoder(ensure_ascii=False).encode


class Pacer:
    """How long a writer rests after writing chunks: 10 ms while few sockets write, longer as they grow in number."""

    def __init__(self, clock=time.monotonic):
        """No socket has written yet."""
        self._clock = clock
        self._lock = native_lock()
        self._window_end = 0.0
        self._writers = set()
        self._gap = MIN_GAP_SECONDS

    def wrote(self, writer):
        """Count a write of chunks; the gap that follows it, set by the writers counted in the window before."""
        now = self._clock()
        with self._lock:
            if now >= self._window_end:
                recent = now < self._window_end + WINDOW_SECONDS
                self._gap = max(MIN_GAP_SECONDS, len(self._writers) / WRITES_PER_SECOND) if recent else MIN_GAP_SECONDS
                self._writers = set()
                self._window_end = now + WINDOW_SECONDS
            self._writers.add(writer)
            return self._gap


class Writer:
    """The frames, cursors and library bytes waiting for one WebSocket, and the thread that writes them. Its lock is
    held for queue operations only, never across a wait (see cooperative.native_lock)."""

    def __init__(self, raw, encode, pacer, send_timeout=30.0, max_bytes=0, name="webui-writer"):
        """`raw` is the socket; `encode(text)` makes the bytes of one text message; `max_bytes` bounds the whole frames
        waiting (0: no bound). The thread starts at once and ends when the writer closes."""
        self._raw = raw
        self._send = send_without_waiting(raw)
        self.encode = encode
        self.pacer = pacer
        self.send_timeout = send_timeout
        self.max_bytes = max_bytes
        self.closed = False
        self._ending = False
        self._lock = native_lock()
        # Set whenever the queue has something or the writer has closed; cleared, under the lock, only by the thread
        # when it finds the queue empty, so a wake between its look and its wait is not lost.
        self._wanted = threading.Event()
        # Set when something that must not wait out a gap is queued (anything but a cursor's chunks: a final frame, an
        # error, the library's bytes); cleared when the queue is taken.
        self._urgent = threading.Event()
        self._queue = []
        self._queued_bytes = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
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
        """Queue a cursor that has something to send, unless it is queued already."""
        with self._lock:
            if self.closed:
                return
            urgent = cursor.final is not None
            if cursor.queued:
                if urgent:
                    self._urgent.set()
                return
            cursor.queued = True
            self._add(cursor, urgent)

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

    def _add(self, item, urgent=True):
        """Queue an item and wake the thread (from its pacing gap too, if `urgent`), under the lock."""
        self._queue.append(item)
        self._wanted.set()
        if urgent:
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
        """Wait for something to send and take all of it; None once closed. Cursors leave the queue here, before
        their answers are read."""
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
                    # Nothing may follow the close frame (a WSGI server may write an HTTP response after the
                    # handler); the client's answer to it can still be read.
                    cut_off = False
                    try:
                        self._raw.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass  # the client has gone already
                    break
                if chunks:
                    rest(self._urgent, self.pacer.wrote(self))
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
                parts.extend(self._encode_text(frame_json(frame)) for frame in frames)
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


def init_app(app):
    """Give the app the pacer its sockets share."""
    app.extensions["webui.pacer"] = Pacer()
