"""The in-flight answer: its chunk log, its listeners and the one final frame, and the delta frames cut from it."""
import itertools
import threading
import time


def delta_frame(listener, stream, most=None):
    """The delta frame carrying the chunks of `stream` that `listener` has not had yet (at most `most`), or None;
    moves its cursor."""
    # A frame carries every chunk that piled up since the listener's last one, so a reader that falls behind
    # gets fewer, larger frames; seq is the number of the last chunk in it.
    length = stream.length()
    end = length if most is None else min(length, listener.cursor + most)
    if end <= listener.cursor:
        return None
    text = "".join(stream.log[listener.cursor : end])
    listener.cursor = end
    return {"type": "delta", "request_id": listener.request_id, "seq": end, "text": text}


class FrameList:
    """A listener that keeps every frame of one request in a list, at once: for code that runs a stream itself."""

    # Takes every chunk as it is told of it, so it is never waiting with chunks not yet taken.
    queued = False

    def __init__(self, request_id):
        """No frames yet."""
        self.request_id = request_id
        self.cursor = 0
        self.frames = []

    def deliver(self, frame):
        """Keep a whole frame."""
        self.frames.append(frame)
        return True

    def grew(self, stream):
        """Keep the new chunks as one delta frame."""
        self.frames.append(delta_frame(self, stream))
        return True


class Stream:
    """One request in flight: its listeners, the chunks so far, and the promise of exactly one final frame.

    A listener has a `request_id`, a `cursor` (how many chunks it has been given), `deliver(frame)` for whole
    frames and `grew(stream)` to hear that chunks were added; both return False once its reader is gone. While its
    `queued` is true it has been told of chunks it has not taken yet, and is not told again; it clears `queued`
    before it reads the log, or while a read is still to come (a subscription left in its outbox's queue).

    Only the thread that runs the provider adds chunks, and once the stream is announced, while every listener
    is queued, it adds them without the lock (see delta). So `listeners` is replaced, never changed in place (a
    loop over it holds one version), and whoever reads the log reads `length()` chunks of it: once the stream
    has ended, a chunk that came after is not part of it.
    """

    # Whether generation goes on when the last listener has gone (stored answers are written for later).
    detachable = False

    def __init__(self, listener, provider, model, clock=time.monotonic):
        """Start with one listener, which has had nothing yet."""
        self.provider = provider
        self.model = model
        self.listeners = [listener]
        self.log = []
        self._ended_length = None
        self._clock = clock
        self._lock = threading.Lock()
        self.started_at = clock()
        self.first_chunk_at = None
        self.announced = False
        self.finished = False
        self.status = "streaming"
        self.error = None
        # Tokens the model wrote, when its provider says (markers.Ending): what the page's rate counts.
        self.tokens = None
        # What of the history the provider was sent (see context.summary), set before the answer starts.
        self.context = None

    def start_frame(self, request_id):
        """The frame that opens the request for one listener."""
        return {"type": "start", "request_id": request_id, "provider": self.provider, "model": self.model, "context": self.context}

    def length(self):
        """How many chunks the answer has: the whole log while it streams, then as many as it had when it ended."""
        # Read in this order: a length read while the stream had not ended counts only chunks added before the end.
        length = len(self.log)
        ended = self._ended_length
        return length if ended is None else ended

    def _drop(self, listener):
        """Forget a listener, under the lock; without listeners a stream that is not detachable is over."""
        self.listeners = [other for other in self.listeners if other is not listener]
        if not self.listeners and not self.detachable and not self.finished:
            self._ended_length = len(self.log)
            self.finished = True

    def _announce(self):
        """Send the start frame to every listener before the first chunk or final frame, under the caller's lock."""
        if not self.announced:
            self.announced = True
            for listener in self.listeners:
                if not listener.deliver(self.start_frame(listener.request_id)):
                    self._drop(listener)

    def _tell(self):
        """Tell every listener that has chunks it was not told of, under the lock; drop those whose reader has gone."""
        length = self.length()
        for listener in self.listeners:
            if not listener.queued and listener.cursor < length and not listener.grew(self):
                self._drop(listener)

    def via(self, provider, model):
        """Record which provider really answers, before the first chunk."""
        with self._lock:
            if not self.announced:
                self.provider, self.model = provider, model

    def delta(self, text):
        """Add one chunk and tell the listeners; False means stop generating."""
        # The hot path of a fast provider takes no lock while every listener is queued (it was a third of the
        # server's time per chunk in figure 4). The chunk goes in first, then the listeners are looked at: one that
        # clears `queued` reads the log afterwards, so it either reads this chunk or is seen not queued here and
        # told under the lock. That needs an append and an attribute read to be atomic and seen in order, as the
        # GIL makes them (a free-threaded Python would need the lock back). The end is told by the length it
        # froze, which _end sets before `finished`.
        if self.announced:
            self.log.append(text)
            for listener in self.listeners:
                if not listener.queued:
                    break
            else:
                return self._ended_length is None
        with self._lock:
            if self.finished:
                return False
            if not self.announced:
                # The first chunk goes in under the lock, after its time: no answer has chunks but no first one.
                self.first_chunk_at = self._clock()
                self.log.append(text)
                self._announce()
            self._tell()
            return not self.finished

    def attach(self, listener):
        """Add a listener that has had `listener.cursor` chunks: it gets the rest, then the live ones; False if over."""
        with self._lock:
            if self.finished:
                return False
            self.listeners = [*self.listeners, listener]
            # Listed before the replay is queued: a chunk added after the listing is either in what the replay
            # takes or, if that take has been, added by a thread that then finds this listener not queued and tells
            # it (see delta). No chunk slips between the replay and the live ones, and none comes twice.
            if self.announced:
                if listener.deliver(self.start_frame(listener.request_id)) and self.length():
                    listener.grew(self)
            return True

    def detach(self, belongs):
        """Forget every listener for which `belongs(listener)` is true (its socket has closed)."""
        with self._lock:
            for listener in [listener for listener in self.listeners if belongs(listener)]:
                self._drop(listener)

    def stats(self):
        """Timing and size of the answer so far."""
        now = self._clock()
        # The length first: the first chunk's time is set before it goes in.
        length = self.length()
        first = self.first_chunk_at
        return {
            "ttft_ms": None if first is None else round((first - self.started_at) * 1000, 1),
            "chunks": length,
            "chars": sum(map(len, itertools.islice(self.log, length))),
            "duration_ms": round((now - self.started_at) * 1000, 1),
            "tokens": self.tokens,
            "context": self.context,
        }

    def _end(self, status, error):
        """Mark the stream over and record how it ended; False if it already was. A chunk added after this is not
        part of the answer (see length)."""
        with self._lock:
            if self.finished:
                return False
            self._ended_length = len(self.log)
            self.finished = True
            self.status, self.error = status, error
            return True

    def _send_final(self, kind, **fields):
        """Send the final frame to the listeners left, after any chunk added as the stream ended; a done frame's stats
        count the answer as it ended."""
        with self._lock:
            self._announce()
            self._tell()
            if kind == "done":
                fields["stats"] = self.stats()
            for listener in self.listeners:
                listener.deliver({"type": kind, "request_id": listener.request_id, **fields})

    def _final(self, status, error, kind, **fields):
        """End with one final frame, unless the stream already ended."""
        if not self._end(status, error):
            return False
        self._send_final(kind, **fields)
        return True

    def finish(self, reason):
        """End with a done frame."""
        return self._final(reason, None, "done", reason=reason)

    def fail(self, code, message):
        """End with an error frame."""
        return self._final("error", {"code": code, "message": message}, "error", code=code, message=message)

