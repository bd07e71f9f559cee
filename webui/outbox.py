"""What goes out on the WebSockets: a queue per socket, and one thread per process that writes them all.

Streaming threads never write to a socket. They queue whole frames, or note that a request has new chunks, and
the pump writes. While the pump is busy the chunks of a request pile up and leave as one frame, so the number of
frames (and of system calls) falls as the load rises, and a reader that stops reading holds up only itself: the
pump never blocks on a socket.
"""
import json
import socket
import threading

from flask import current_app
from wsproto.events import TextMessage
from wsproto.utilities import LocalProtocolError

from .bridge import delta_frame

# An idle pump thread ends after this long; the next frame starts another.
IDLE_SECONDS = 2.0
# How often the pump tries again a socket whose reader has fallen a whole send buffer behind.
RETRY_SECONDS = 0.01


class Subscription:
    """One request's chunks bound for one socket: queued once however many chunks arrive before the pump comes."""

    def __init__(self, outbox, request_id, after=0):
        """A listener (see bridge.Stream) that has had `after` chunks."""
        self.outbox = outbox
        self.request_id = request_id
        self.cursor = after
        self.stream = None
        self.queued = False

    def deliver(self, frame):
        """Queue a whole frame."""
        return self.outbox.put(frame)

    def grew(self, stream):
        """Queue this request's turn, unless it is already waiting for the pump."""
        if self.outbox.closed:
            return False
        if self.queued:
            return True
        self.stream = stream
        self.queued = True
        return self.outbox.put(self)

    def take(self):
        """The delta frame of every chunk not yet written, or None."""
        # Cleared before the log is read: a chunk added after this queues the subscription again.
        self.queued = False
        return delta_frame(self, self.stream.log)


class Outbox:
    """The frames waiting for one WebSocket, and the bytes the socket has not taken yet."""

    def __init__(self, pump, raw, encode):
        """`raw` is the socket; `encode(text)` makes the bytes of one text message."""
        self.pump = pump
        self.raw = raw
        self.encode = encode
        self.closed = False
        self._lock = threading.Lock()
        self._items = []
        self._unsent = bytearray()
        self._waiting = False

    def listener(self, request_id, after=0):
        """A listener for one of this socket's requests."""
        return Subscription(self, request_id, after)

    def put(self, item):
        """Queue a frame or a subscription with news; False once the socket is closed."""
        with self._lock:
            if self.closed:
                return False
            self._items.append(item)
            wake, self._waiting = not self._waiting, True
        if wake:
            self.pump.wake(self)
        return True

    def put_bytes(self, data):
        """Bytes of the WebSocket library's own (pings, pongs, close): in order after what is unsent."""
        with self._lock:
            if self.closed:
                return
            self._unsent += data
            self._write()
            wake = bool(self._unsent) and not self._waiting
            self._waiting = self._waiting or wake
        if wake:
            self.pump.wake(self)

    def flush(self):
        """Encode what is queued and write what the socket takes now; True while bytes are left over."""
        with self._lock:
            items, self._items = self._items, []
            self._waiting = False
        data = bytearray()
        try:
            for item in items:
                frame = item.take() if isinstance(item, Subscription) else item
                if frame is not None:
                    data += self.encode(json.dumps(frame, ensure_ascii=False))
        except OSError:
            self.close()
            return False
        with self._lock:
            if self.closed:
                return False
            self._unsent += data
            self._write()
            return bool(self._unsent)

    def _write(self):
        """Write what the socket takes without waiting, under the lock; a failed socket closes the outbox."""
        if not self._unsent:
            return
        try:
            sent = self.raw.send(self._unsent, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close()
            return
        del self._unsent[:sent]

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


class Pump:
    """The thread that writes every socket's queue; it runs while there is anything to write."""

    def __init__(self):
        """No thread until the first frame."""
        self._cond = threading.Condition()
        self._ready = []
        self._blocked = []
        self._thread = None

    def wake(self, outbox):
        """Have `outbox` written soon."""
        with self._cond:
            self._ready.append(outbox)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="webui-pump", daemon=True)
                self._thread.start()
            else:
                self._cond.notify()

    def _next(self):
        """The outboxes to write now, waiting for some; None when the thread should end."""
        with self._cond:
            if not self._ready:
                self._cond.wait(RETRY_SECONDS if self._blocked else IDLE_SECONDS)
            if not self._ready and not self._blocked:
                self._thread = None
                return None
            ready, self._ready = self._ready, []
        batch = list(dict.fromkeys(self._blocked + ready))
        self._blocked = []
        return batch

    def _run(self):
        """Write until there is nothing left; a socket still behind is tried again on the next round."""
        while (batch := self._next()) is not None:
            for outbox in batch:
                if outbox.flush():
                    self._blocked.append(outbox)


def open_outbox(ws):
    """The outbox of a flask-sock WebSocket, wired so every write to it goes through the pump."""
    raw = ws.sock

    def encode(text):
        """One text message in the connection's framing (and compression, if the browser asked for it)."""
        try:
            return ws.ws.send(TextMessage(data=text))
        except LocalProtocolError as e:
            raise ConnectionError("the WebSocket is closing") from e

    outbox = Outbox(current_app.extensions["webui.pump"], raw, encode)
    ws.sock = OrderedSocket(raw, outbox)
    return outbox


def init_app(app):
    """Give the app its pump."""
    app.extensions["webui.pump"] = Pump()
