"""The in-flight answer: its chunk log, the cursors that read it, its one final frame, its stats and its stop.

Invariants, under the answer's lock: only the thread running the provider adds chunks, none after the end, so the log
an answer ended with is its whole text; the final frame is set once, after the last chunk, on every cursor then
attached, and a later cursor is refused (it replays what was stored). No cursor is past the log's end (attach refuses
one), so each reaches its final frame. A cursor is woken after what it is to send is in
place. A chunk skips a cursor still queued in its writer, read without the lock, yet misses nothing: the writer
unqueues a cursor before it reads the log, so that read comes after the chunk's append or the skip does not happen.

Under gevent (`webui` and `webui serve`) one OS thread runs every greenlet that touches an answer, and none of these
sections waits or yields, so no two of them interleave: the lock guards only against other OS threads (an app served by
threads, as in tests), and a chunk's append, which every chunk of every answer makes, takes it only there.
"""
import itertools
import threading
import time
from bisect import bisect_left

from flask_babel import gettext as _

from ..cooperative import native_lock, patched
from ..errors import bad_request

# A delta frame carries chunks until it has this many characters (or one longer chunk): a backlog leaves as frames of
# tens of KB, not one of megabytes.
FRAME_CHARS = 16 * 1024
# How many chunks frame_end steps back from a window's end before it measures them all.
STEPS_BACK = 8


class Cursor:
    """One request's place in an answer, for one socket: the chunks sent, whether its start and final frames were.
    Only its writer moves it, and guards `queued` with its own lock."""

    def __init__(self, writer, request_id, sent=0):
        """A cursor that has had `sent` chunks and no start frame, sending through `writer` (see writer.Writer)."""
        self.writer, self.request_id, self.sent = writer, request_id, sent
        self.answer = self.final = None
        self.started = self.done = self.queued = False
        # How many chunks _deltas joins first: about a frame's, as the last frame had.
        self.frame_chunks = 256

    def wake(self):
        """Tell the writer there is something to send."""
        self.writer.wake(self)

    @property
    def urgent(self):
        """Whether what it has to send is not to wait out a pacing gap: its answer has ended (before any final frame
        is set), so no chunk will join."""
        return self.answer.finished

    def take(self, most):
        """At most `most` frames not yet sent (the start, deltas of the chunks past the cursor, the final), and whether
        more are left. One call at a time, by the writer."""
        answer = self.answer
        with answer._lock:
            end, final = answer.first + len(answer.log), self.final
        frames = []
        if not self.started and (end or final):
            self.started = True
            frames.append(answer.start_frame(self.request_id))
        if self.sent < end and len(frames) < most:
            self._deltas(frames, most, end)
        if final and self.sent == end and not self.done and len(frames) < most:
            self.done = True
            frames.append(final)
        return frames, self.sent < end or (final and not self.done)

    def _deltas(self, frames, most, end):
        """Add delta frames of the chunks from the cursor on, up to chunk `end`, until `frames` has `most`."""
        log, first, sent, count = self.answer.log, self.answer.first, self.sent, self.frame_chunks
        # The chunks are joined in C, a window at a time, with no Python step per chunk: the window holds one chunk
        # more than the last frame did, so a frame's end is a step or two back from it (see frame_end); a window that
        # falls short of a frame doubles.
        while sent < end and len(frames) < most:
            stop = min(end, sent + count)
            text = "".join(log[sent - first : stop - first])
            if len(text) < FRAME_CHARS and stop < end:
                count *= 2
                continue
            if len(text) >= FRAME_CHARS:
                stop, size = frame_end(log, first, sent, stop, len(text))
                text, count = text[:size], stop - sent + 1
            sent = stop
            frames.append({"type": "delta", "request_id": self.request_id, "seq": sent, "text": text})
        self.sent, self.frame_chunks = sent, count


def frame_end(log, first, sent, stop, size):
    """(end, characters) of the frame that starts at chunk `sent`, given the chunks up to `stop` with `size` >=
    FRAME_CHARS characters: it ends with the chunk that brings it to FRAME_CHARS. Found stepping back from `stop` a few
    chunks at most, else by measuring every chunk."""
    for _step in range(STEPS_BACK):
        last = len(log[stop - 1 - first])
        if size - last < FRAME_CHARS:
            return stop, size
        stop, size = stop - 1, size - last
    ends = list(itertools.accumulate(map(len, log[sent - first : stop - first])))
    reached = bisect_left(ends, FRAME_CHARS)
    return sent + reached + 1, ends[reached]


def past_the_end():
    """The refusal of a resume whose `after` claims chunks the answer has not made."""
    return bad_request(_("“after” is past the last chunk of this answer: resume from 0."))


class Answer:
    """One request in flight: the chunks so far, the cursors listening, and the promise of exactly one final frame."""

    # Whether generation goes on when the last cursor has gone (stored answers are written for later).
    detachable = False
    # The chunks before the log's first: an answer followed from another process holds only those its cursor lacks.
    first = 0

    def __init__(self, cursor, provider, model, clock=time.monotonic):
        """Start with one cursor, which has had nothing yet."""
        self.provider, self.model, self.log, self._cursors = provider, model, [], []
        self._clock = clock
        # Held for a few reads and writes of memory, never across a wait (see cooperative.native_lock).
        self._lock = native_lock()
        self._append_lock = None if patched() else self._lock
        self.started_at, self.first_chunk_at = clock(), None
        # (chunks, characters) counted by stats(), which counts only the chunks added since: off the chunk's path.
        self._counted = (0, 0)
        self.finished, self.status, self.error = False, "streaming", None
        # Set once every cursor has its final frame (or none is left, or telling failed): what a closing socket, a
        # resume and whoever ends an answer wait for. `told` is that frame, without a request id.
        self.settled, self.told = threading.Event(), None
        # The tokens the model wrote when its provider says (markers.Ending), and what of the history it was sent
        # (context.summary), set before the first chunk.
        self.tokens = self.context = None
        self.attach(cursor)

    def start_frame(self, request_id):
        """The frame that opens the request for one cursor."""
        return {"type": "start", "request_id": request_id, "provider": self.provider, "model": self.model, "context": self.context}

    def via(self, provider, model):
        """Record which provider really answers, before the first chunk (whose start frame names it)."""
        with self._lock:
            if not self.log:
                self.provider, self.model = provider, model

    def delta(self, text):
        """Add one chunk and wake the cursors not already queued; False, and nothing added, once it is over."""
        # Every chunk of every answer comes through here: a few reads and one append, under the lock where other OS
        # threads share the answer (see the module's docstring).
        lock, log = self._append_lock, self.log
        if lock is not None:
            lock.acquire()
        if self.finished:
            if lock is not None:
                lock.release()
            return False
        if not log:
            self.first_chunk_at = self._clock()
        log.append(text)
        cursors = self._cursors
        if lock is not None:
            lock.release()
        for cursor in cursors:
            if not cursor.queued:
                cursor.wake()
        return True

    def attach(self, cursor):
        """Add a cursor that has had `cursor.sent` chunks: it gets the rest, then the live ones; False if over.
        Raises UserError if it claims chunks the answer has not made."""
        with self._lock:
            if self.finished:
                return False
            if cursor.sent > self.first + len(self.log):
                raise past_the_end()
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

    def counted(self, chars):
        """The characters of every chunk added so far, as whoever added them counted them: stats() need not."""
        with self._lock:
            self._counted = (len(self.log), chars)

    def _end(self, status, error):
        """Mark the answer over and record how it ended; False if it already was."""
        with self._lock:
            if self.finished:
                return False
            self.finished, self.status, self.error = True, status, error
            cursors = self._cursors
        # No chunk can come now: the writers send what is left at once, before the final frame (which a stored answer
        # sends once its end is written).
        for cursor in cursors:
            cursor.wake()
        return True

    def _send_final(self, kind, **fields):
        """Tell every cursor left how the answer ended; a done frame's stats count the answer as it ended."""
        told = {"type": kind, **fields}
        if kind == "done":
            told["stats"] = self.stats()
        self._tell(told)

    def _tell(self, told):
        """Set the final frame `told` (without a request id) on every cursor left and wake them; the answer is settled
        then, even if that failed."""
        try:
            self.told = told
            with self._lock:
                cursors = self._cursors
                for cursor in cursors:
                    cursor.final = {"type": told["type"], "request_id": cursor.request_id, **told}
            for cursor in cursors:
                cursor.wake()
        finally:
            self.settled.set()

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
