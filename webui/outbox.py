"""What goes out on the WebSockets: a queue per socket, written without ever waiting on the socket.

Whoever queues a frame writes it at once, in its own thread, unless that socket was written very recently and
many sockets are busy: then a request's chunks wait a little and leave together as one frame, written by the
thread that brings the next chunk once their turn has come (under gevent, by the pump). So an idle server adds
no delay, and a busy one sends fewer, larger frames instead of falling behind. A reader that stops reading holds up
only itself: its bytes wait in its outbox and the pump thread tries them again later, and one that leaves more than
WEBUI_MAX_QUEUED_BYTES of frames waiting (asking without reading, say) has its connection cut.
"""
import json
import logging
import socket
import threading
import time

from flask import current_app
from wsproto.events import TextMessage
from wsproto.utilities import LocalProtocolError

from .bridge import delta_frame
from .cooperative import patched, send_without_waiting
from .limits import cut
from .pump import Pump

log = logging.getLogger(__name__)

# The writes per second the whole process aims to stay under: with N sockets streaming, each waits N / this
# many seconds after writing chunks before it writes chunks again (50 ms for 500 sockets)...
WRITES_PER_SECOND = 10_000
# ...and never less than this: chunks that follow a write sooner wait (see LATE_SECONDS), so a provider that yields
# thousands of chunks a second costs a frame per pump deadline instead of one per chunk. Chunks further apart are
# not delayed.
MIN_GAP_SECONDS = 0.001
# The window over which the busy sockets are counted.
WINDOW_SECONDS = 0.1
# Paced chunks may leave this long after their gap is over, or sooner with a frame that may not wait (the final
# one). Chunks that come meanwhile join them: a fast stream costs a frame per ~20 ms, a screen's frame. The pump
# only says that their turn has come; the thread that brings the next chunk writes them, or the pump itself when
# none has come a while later (see HANDOVER_GAPS). A thread that writes must take the GIL back after the send,
# which under load takes up to the interpreter's switch interval (5 ms): a streaming thread has that much to spare
# between its chunks, while the one pump writing for hundreds of sockets fell seconds behind (figure 3).
LATE_SECONDS = 0.02
# Under load the pump waits longer (this many gaps more) before it writes chunks no thread came to write: each of its
# writes costs it the wait for the GIL, and at 500 streams, writing soon made it fall behind in 2 runs of 3.
HANDOVER_GAPS = 2
# Under gevent (`webui serve`, see cooperative.py) a write waits for no lock, so none of that is needed: the pump
# writes paced chunks itself, this soon after their gap. Measured at 500 streams, with a gap of 40 ms (the rate below)
# the one thread has room to spare; at 20 ms its sends alone (a loopback send runs the receiver's TCP work too) used
# the most of it.
COOPERATIVE_LATE_SECONDS = 0.005
COOPERATIVE_WRITES_PER_SECOND = 12_500
# How often the pump tries again a socket whose reader has fallen a whole send buffer behind.
RETRY_SECONDS = 0.01
# A frame carries at most this many chunks: a fast stream's backlog leaves as several frames of tens of KB rather
# than one of megabytes, whose buffers (each copy the encoding makes) glibc would map afresh and zero every time;
# that cost figure 4 a tenth of its throughput.
FRAME_CHUNKS = 1024


class Subscription:
    """One request's chunks bound for one socket: queued once however many chunks arrive before they are written.

    `queued` is true while it waits in the outbox for its turn, and the stream need not tell it of more chunks;
    `waiting` while it is in the outbox at all. When its turn comes the outbox clears `queued` (`Outbox.due`), so
    the next chunk's thread hears of it and writes.
    """

    def __init__(self, outbox, request_id, after=0):
        """A listener (see bridge.Stream) that has had `after` chunks."""
        self.outbox = outbox
        self.request_id = request_id
        self.cursor = after
        self.stream = None
        self.queued = False
        self.waiting = False

    def deliver(self, frame):
        """Queue a whole frame; it is written at once."""
        return self.outbox.put(frame)

    def grew(self, stream):
        """Queue this request's turn, or write now if its turn has come."""
        if self.queued:
            return True
        self.stream = stream
        self.queued = True
        if self.waiting:
            return self.outbox.write_now()
        self.waiting = True
        return self.outbox.put(self, paced=True)

    def take(self):
        """The delta frames of every chunk not yet written (none if there is none), FRAME_CHUNKS to a frame."""
        # Cleared before the log is read: a chunk added after this queues the subscription again. `waiting` first: a
        # chunk's thread that came between the two would otherwise see its turn come, find this flush running, and
        # leave the subscription queued in no queue.
        self.waiting = False
        self.queued = False
        frames = []
        while (frame := delta_frame(self, self.stream, FRAME_CHUNKS)) is not None:
            frames.append(frame)
        return frames


class Pacer:
    """How long a socket waits between two writes: nothing while few sockets are busy, longer as they grow in number.

    `late` is how long after its gap a paced chunk may leave; `handover` says whether the thread that brings the
    next chunk writes (threads) or the pump does (gevent).
    """

    def __init__(self, writes_per_second=WRITES_PER_SECOND, late=LATE_SECONDS, handover=True):
        """No socket has written yet."""
        self.writes_per_second = writes_per_second
        self.late = late
        self.handover = handover
        self._window_end = 0.0
        self._busy = set()
        self._gap = 0.0

    def gap(self, now):
        """Seconds a socket waits after writing chunks before it writes chunks again, as of the last full window."""
        return self._gap if now < self._window_end + WINDOW_SECONDS else MIN_GAP_SECONDS

    def wrote(self, outbox, now):
        """Count a socket's write in the current window."""
        if now >= self._window_end:
            self._gap = max(MIN_GAP_SECONDS, len(self._busy) / self.writes_per_second)
            self._busy = set()
            self._window_end = now + WINDOW_SECONDS
        self._busy.add(outbox)


class Outbox:
    """The frames waiting for one WebSocket, and the bytes the socket has not taken yet."""

    def __init__(self, pump, pacer, raw, encode, clock=time.monotonic, max_bytes=0):
        """`raw` is the socket; `encode(text)` makes the bytes of one text message; `max_bytes` bounds the whole
        frames waiting (0: no bound)."""
        self.pump = pump
        self.pacer = pacer
        self._raw = raw
        self._send = send_without_waiting(raw)
        self.encode = encode
        self.max_bytes = max_bytes
        self.closed = False
        self.ended = False
        self._closing = False
        self._frame_bytes = 0
        self._clock = clock
        self._lock = threading.Lock()
        self._items = []
        self._unsent = bytearray()
        self._flushing = False
        self._deadline = False
        self._turn = False
        self._last_write = float("-inf")

    def listener(self, request_id, after=0):
        """A listener for one of this socket's requests."""
        return Subscription(self, request_id, after)

    def put(self, item, paced=False):
        """Queue a frame (a dict), a subscription with news, or the close frame's maker (see end), and write it, now
        or, if `paced`, once the socket's gap is over; False once the socket is gone or cut for falling behind."""
        if isinstance(item, dict):
            item = json.dumps(item, ensure_ascii=False)
        with self._lock:
            if self.closed or self.ended:
                return False
            if isinstance(item, str):
                # Chunks wait in their stream's log, whoever reads them; whole frames wait here, for this reader alone.
                self._frame_bytes += len(item)
                if self.max_bytes and self._frame_bytes > self.max_bytes:
                    log.warning("a WebSocket reader left %d bytes of frames waiting; cutting its connection", self._frame_bytes)
                    self._close()
                    cut(self._raw)
                    return False
            if callable(item):
                self.ended = True
            self._items.append(item)
            if self._flushing:
                return True
            now = self._clock()
            due = self._last_write + self.pacer.gap(now)
            if paced and now < due:
                self._set_deadline(due + self.pacer.late)
                return True
            self._flushing = True
        self._flush()
        return True

    def put_bytes(self, data):
        """Bytes of the WebSocket library's own (pings, pongs, close): never into the middle of a frame."""
        with self._lock:
            if self.closed:
                return
            self._unsent += data
            self._write()

    def due(self):
        """The pump's call at a deadline: tell waiting chunks their turn has come, or write them if none came since;
        try again what the socket refused."""
        with self._lock:
            self._deadline = False
            if self.closed or self._flushing or not (self._items or self._unsent):
                return
            # Only chunks wait for a turn: a whole frame (a final one, say) left behind by a slow reader goes now.
            if not self._unsent and all(isinstance(item, Subscription) for item in self._items):
                now = self._clock()
                gap = self.pacer.gap(now)
                turn = self._last_write + gap + self.pacer.late
                if now < turn:
                    # Asked for before a thread wrote this socket: the chunks queued since wait their own turn.
                    self._set_deadline(turn)
                    return
                if self.pacer.handover and not self._turn:
                    self._turn = True
                    for subscription in self._items:
                        subscription.queued = False
                    self._set_deadline(now + self.pacer.late + HANDOVER_GAPS * gap)
                    return
            self._flushing = True
        self._flush()

    def write_now(self):
        """A chunk's thread writes what is queued, now that its turn has come (see due)."""
        with self._lock:
            if self.closed:
                return False
            if self._flushing:
                return True
            self._flushing = True
        self._flush()
        return True

    def _flush(self):
        """Encode and write what is queued, in this thread, until nothing is left; one thread at a time does this."""
        while True:
            with self._lock:
                self._write()
                # A reader that is behind gets nothing more encoded until it catches up: its chunks wait in their
                # stream's log (and leave as one frame later) instead of piling up here as bytes.
                if self.closed or self._unsent or not self._items:
                    self._flushing = False
                    if self._unsent and not self.closed:
                        self._set_deadline(self._clock() + RETRY_SECONDS)
                    return
                items, self._items = self._items, []
                self._frame_bytes = 0
                self._turn = False
            try:
                data = b"".join(self._encode(items))
            except Exception:
                # Queued subscriptions would stay marked forever: the socket is given up, not the process's writing.
                log.exception("could not encode a frame; closing the socket's queue")
                with self._lock:
                    self._close()
                    self._flushing = False
                return
            with self._lock:
                if self.closed:
                    self._flushing = False
                    return
                self._unsent += data
                # The close frame is last (see end): once these bytes have left, nothing may follow.
                if callable(items[-1]):
                    self._closing = True
                # Only chunks are paced: a start or final frame neither waits nor makes the next chunk wait.
                if any(isinstance(item, Subscription) for item in items):
                    now = self._clock()
                    self._last_write = now
                    self.pacer.wrote(self, now)

    def _encode(self, items):
        """The bytes of each frame queued, in order; a subscription adds a frame per FRAME_CHUNKS new chunks."""
        for item in items:
            if callable(item):
                yield item()
            elif isinstance(item, Subscription):
                yield from (self._encode_text(json.dumps(frame, ensure_ascii=False)) for frame in item.take())
            else:
                yield self._encode_text(item)

    def _encode_text(self, text):
        """The bytes of one frame's JSON."""
        try:
            return self.encode(text)
        except UnicodeEncodeError:
            # A lone surrogate (half of a split emoji, say) is not UTF-8; escaped, it is still valid JSON.
            return self.encode(json.dumps(json.loads(text)))

    def end(self, close_frame):
        """Queue the WebSocket's close frame after every frame queued, made by `close_frame()` when its turn comes (the
        library's state must see the frames before it); nothing is queued after it."""
        self.put(close_frame)

    def _set_deadline(self, due):
        """Have the pump call due() at `due`, under the lock; one deadline at a time is enough."""
        if not self._deadline:
            self._deadline = True
            self.pump.at(due, self)

    def _write(self):
        """Write what the socket takes without waiting, under the lock; the rest waits for the pump's retry."""
        if not self._unsent:
            return
        try:
            sent = self._send(self._unsent)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close()
            return
        del self._unsent[:sent]
        if self._unsent:
            self._set_deadline(self._clock() + RETRY_SECONDS)
        elif self._closing:
            # The close frame has left and nothing may follow it (the development server would write an HTTP
            # response after the socket's handler); the client's answer to it can still be read.
            try:
                self._raw.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the connection is gone already

    def _close(self):
        """Drop everything queued, under the lock."""
        self.closed = True
        self._items.clear()
        self._unsent.clear()

    def close(self):
        """The socket is done: nothing more is queued or written."""
        with self._lock:
            self._close()


class OrderedSocket:
    """The socket as the WebSocket library sees it: its own writes queue behind ours instead of cutting in."""

    def __init__(self, raw, outbox):
        """Wrap `raw`, whose writes go through `outbox`."""
        self._raw = raw
        self._outbox = outbox

    def send(self, data):
        """Queue the library's bytes after ours; report them all taken, as a blocking send would."""
        self._outbox.put_bytes(data)
        return len(data)

    def __getattr__(self, name):
        """Everything else (recv, fileno, close) is the socket's own."""
        return getattr(self._raw, name)


def open_outbox(ws):
    """The outbox of a flask-sock WebSocket, wired so every write to its socket, the library's too, goes through it."""
    raw = ws.sock

    def encode(text):
        """One text message in the connection's framing (and compression, if the browser asked for it)."""
        try:
            return ws.ws.send(TextMessage(data=text))
        except LocalProtocolError as e:
            raise ConnectionError("the WebSocket is closing") from e

    extensions = current_app.extensions
    outbox = Outbox(
        extensions["webui.pump"], extensions["webui.pacer"], raw, encode, max_bytes=current_app.config["WEBUI_MAX_QUEUED_BYTES"]
    )
    ws.sock = OrderedSocket(raw, outbox)
    return outbox


def init_app(app):
    """Give the app its pump and its pacer."""
    app.extensions["webui.pump"] = Pump()
    app.extensions["webui.pacer"] = (
        Pacer(COOPERATIVE_WRITES_PER_SECOND, COOPERATIVE_LATE_SECONDS, handover=False) if patched() else Pacer()
    )
