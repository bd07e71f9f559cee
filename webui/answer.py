"""The in-flight answer: its chunk log, the cursors that read it, its one final frame, its stats and its stop.

Invariants, each kept under the answer's lock:
- Only the thread that runs the provider adds chunks, and none once the answer has ended: the log an answer ended
  with is its whole text.
- The final frame is set once, on every cursor attached at the end, after the last chunk; a cursor that comes later
  is refused (it replays what was stored instead).
- A cursor is woken only after what it has to send (a chunk, the final frame) is in place, and makes its frames from
  the answer when its writer takes it (see writer.py), so it sends every chunk once, in order, then the final frame.
- A chunk skips waking a cursor that is still queued in its writer. That read takes no lock, yet misses nothing: the
  writer unqueues a cursor before it takes the answer's lock to read the log, so either that read comes after this
  chunk's append (and has it), or the unqueueing happened before the append's lock and this read sees it.
"""
import itertools
import threading
import time

from .cooperative import native_lock

# A delta frame carries chunks until it has this many characters (or has one chunk that is longer): a backlog
# leaves as frames of tens of KB rather than one of megabytes.
FRAME_CHARS = 16 * 1024


class Cursor:
    """One request's place in an answer, for one socket: how many chunks it has sent, and whether its start and final
    frames have. Only its writer moves it; `queued` is the writer's, under the writer's lock."""

    def __init__(self, writer, request_id, sent=0):
        """A cursor that has had `sent` chunks and no start frame, sending through `writer` (see writer.Writer)."""
        self.writer = writer
        self.request_id = request_id
        self.sent = sent
        self.answer = None
        self.started = False
        self.final = None
        self.done = False
        self.queued = False

    def wake(self):
        """Tell the writer there is something to send."""
        self.writer.wake(self)

    def take(self, most):
        """At most `most` frames not yet sent, and whether more are left."""
        return self.answer.frames(self, most)


class FrameList:
    """A writer that keeps a request's frames in a list as soon as they are made: for code that runs an answer itself."""

    def __init__(self):
        """No frames yet."""
        self._lock = threading.Lock()
        self.frames = []

    def wake(self, cursor):
        """Take every frame the cursor has now (the runner and the watchdog may both wake it)."""
        with self._lock:
            self.frames += cursor.take(float("inf"))[0]


class Answer:
    """One request in flight: the chunks so far, the cursors listening, and the promise of exactly one final frame."""

    # Whether generation goes on when the last cursor has gone (stored answers are written for later).
    detachable = False
    # The chunks before the log's first: an answer followed from another process holds only those its cursor lacks.
    first = 0

    def __init__(self, cursor, provider, model, clock=time.monotonic):
        """Start with one cursor, which has had nothing yet."""
        self.provider = provider
        self.model = model
        self.log = []
        # (chunks, characters) counted so far by stats(), which counts only the chunks added since: off the chunk's path.
        self._counted = (0, 0)
        self._cursors = []
        self._clock = clock
        # Held only for a few reads and writes of memory, never across a wait (see cooperative.native_lock).
        self._lock = native_lock()
        self.started_at = clock()
        self.first_chunk_at = None
        self.finished = False
        # Set once every cursor has its final frame queued (or none is left to tell, or the telling failed): what a
        # closing socket, a resume and whoever ends an answer wait for.
        self.settled = threading.Event()
        # The final frame as its cursors were told it, without a request id: set once, with `settled`.
        self.told = None
        self.status = "streaming"
        self.error = None
        # Tokens the model wrote, when its provider says (markers.Ending): what the page's rate counts.
        self.tokens = None
        # What of the history the provider was sent (see context.summary), set before the answer starts.
        self.context = None
        self.attach(cursor)

    def start_frame(self, request_id):
        """The frame that opens the request for one cursor."""
        return {"type": "start", "request_id": request_id, "provider": self.provider, "model": self.model, "context": self.context}

    def length(self):
        """How many chunks the answer has."""
        return len(self.log)

    def via(self, provider, model):
        """Record which provider really answers, before the first chunk (whose start frame names it)."""
        with self._lock:
            if not self.log:
                self.provider, self.model = provider, model

    def delta(self, text):
        """Add one chunk and wake the cursors; False means stop generating."""
        lock, log = self._lock, self.log
        lock.acquire()
        if self.finished:
            lock.release()
            return False
        if not log:
            self.first_chunk_at = self._clock()
        log.append(text)
        cursors = self._cursors
        lock.release()
        for cursor in cursors:
            if not cursor.queued:
                cursor.wake()
        return True

    def attach(self, cursor):
        """Add a cursor that has had `cursor.sent` chunks: it gets the rest, then the live ones; False if over."""
        with self._lock:
            if self.finished:
                return False
            cursor.answer = self
            # Replaced, never changed in place: a chunk's wake loops over the list it read.
            self._cursors = [*self._cursors, cursor]
            missed = cursor.sent < self.first + len(self.log)
        if missed:
            cursor.wake()
        return True

    def detach(self, cursor):
        """Forget a cursor whose socket has closed; without cursors an answer that is not detachable is over."""
        with self._lock:
            self._cursors = [other for other in self._cursors if other is not cursor]
            if not self._cursors and not self.detachable:
                self.finished = True
                self.settled.set()

    def frames(self, cursor, most):
        """Up to `most` frames `cursor` has not had (its start, its deltas, its final), and whether more are left;
        moves the cursor. Only the cursor's writer calls this, one call at a time."""
        with self._lock:
            end, final = self.first + len(self.log), cursor.final
        frames = []
        if not cursor.started and (end or final):
            cursor.started = True
            frames.append(self.start_frame(cursor.request_id))
        while cursor.sent < end and len(frames) < most:
            frames.append(self._delta(cursor, end))
        if final and cursor.sent == end and not cursor.done and len(frames) < most:
            cursor.done = True
            frames.append(final)
        return frames, cursor.sent < end or (final and not cursor.done)

    def _delta(self, cursor, end):
        """The delta frame of the chunks after the cursor, up to FRAME_CHARS of them; seq is the last chunk's number."""
        begin = stop = cursor.sent
        size = 0
        first = self.first
        while stop < end and (stop == begin or size < FRAME_CHARS):
            size += len(self.log[stop - first])
            stop += 1
        cursor.sent = stop
        return {"type": "delta", "request_id": cursor.request_id, "seq": stop, "text": "".join(self.log[begin - first : stop - first])}

    def stats(self):
        """Timing and size of the answer so far."""
        with self._lock:
            length, first = len(self.log), self.first_chunk_at
        # The log only grows: its first `length` chunks are fixed, and read without the lock.
        counted, chars = self._counted
        if length > counted:
            chars += sum(map(len, itertools.islice(self.log, counted, length)))
            self._counted = (length, chars)
        return {
            "ttft_ms": None if first is None else round((first - self.started_at) * 1000, 1),
            "chunks": length,
            "chars": chars,
            "duration_ms": round((self._clock() - self.started_at) * 1000, 1),
            "tokens": self.tokens,
            "context": self.context,
        }

    def _end(self, status, error):
        """Mark the answer over and record how it ended; False if it already was."""
        with self._lock:
            if self.finished:
                return False
            self.finished = True
            self.status, self.error = status, error
            return True

    def _send_final(self, kind, **fields):
        """Give every cursor left its final frame; a done frame's stats count the answer as it ended."""
        try:
            if kind == "done":
                fields["stats"] = self.stats()
            self._tell({"type": kind, **fields})
        finally:
            self.settled.set()

    def _tell(self, told):
        """Set the final frame `told` (without a request id) on every cursor left, and wake them."""
        self.told = told
        with self._lock:
            cursors = self._cursors
            for cursor in cursors:
                cursor.final = {"type": told["type"], "request_id": cursor.request_id, **told}
        for cursor in cursors:
            cursor.wake()

    def _final(self, status, error, kind, **fields):
        """End with one final frame, unless the answer already ended."""
        if not self._end(status, error):
            return False
        self._send_final(kind, **fields)
        return True

    def finish(self, reason):
        """End with a done frame."""
        return self._final(reason, None, "done", reason=reason)

    def stop(self):
        """Stop it for a stop frame: it ends as stopped."""
        return self.finish("stopped")

    def fail(self, code, message):
        """End with an error frame."""
        return self._final("error", {"code": code, "message": message}, "error", code=code, message=message)
