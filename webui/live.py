"""Answers of stored conversations while they stream: appended to SQLite as they grow, open to late listeners.

Invariant: an answer's stored text is a prefix of its shown text, and what was shown FLUSH_SECONDS ago is stored unless
the database refuses (then it is tried again every RETRY_SECONDS, nothing dropped). Whoever writes an answer holds its
store lock from reading how much is stored to marking what it wrote: each round the saver takes the locks of the
answers that are due (skipping one whose end is being written), writes all their parts in one transaction, marks
them if it committed, and lets go; an answer's end waits for that lock, writes what no part has, and nothing is
written after it.
"""
import itertools
import logging
import threading
import time
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _

from .answer import Answer
from .patrol import Patrol
from .storage import get_db
from .storage.answer_parts import Part, append_parts, end_answer, lead_after
from .storage.database import StorageError, transaction

log = logging.getLogger(__name__)

# Streamed text waits at most about this long before it is written: what a crash can cost of an answer.
FLUSH_SECONDS = 0.4
# How often the saver looks for text that is due.
SAVER_TICK = FLUSH_SECONDS / 8
# A write that failed is tried again after this long, an answer's end until it is written.
RETRY_SECONDS = 1.0


def unsaved_error():
    """What the page is told instead of an answer's outcome while the end of that answer is not written."""
    message = _("This answer could not be saved yet. The server keeps it and saves it as soon as it can.")
    return {"code": "storage_failed", "message": message}


def ends_in_half_a_pair(chunk):
    """Whether a chunk ends with the first half of a UTF-16 surrogate pair (an emoji that a provider cut in two)."""
    return "\ud800" <= chunk[-1:] <= "\udbff"


@dataclass
class Turn:
    """A stored chat request whose rows are written: where its answer goes and what the provider is sent."""

    owner: str
    conversation_id: str
    user_message_id: str | None
    message_id: str
    prefix: str
    messages: list
    options: dict


class StoredStream(Answer):
    """A stream that appends its answer to its message as it grows (see answer_parts) and goes on when its sockets
    close."""

    detachable = True

    def __init__(self, cursor, provider, model, turn, streams, clock=time.monotonic):
        """Stream `turn`'s answer; `streams` is the registry that lists it while it runs."""
        super().__init__(cursor, provider, model, clock)
        self.turn = turn
        self.streams = streams
        self._store_lock = threading.Lock()
        self._stored_final = False
        self._stored_chunks = 0
        # The unfinished word the next part is indexed with in front of it: a continued answer's goes on its prefix's.
        self._lead = lead_after("", turn.prefix)
        self._store_due = clock() + FLUSH_SECONDS
        self._end_stats = None
        # While the saver holds the store lock: how many chunks the part it writes ends with, and when it took it.
        self._taken = (0, 0.0)
        # The stream has ended but its end is not written: it stays listed, and the saver tries again.
        self.unsaved_end = False

    def start_frame(self, request_id):
        """The start frame names the conversation and the messages, so the page can resume or reload."""
        return {
            **super().start_frame(request_id),
            "conversation_id": self.turn.conversation_id,
            "message_id": self.turn.message_id,
            "user_message_id": self.turn.user_message_id,
        }

    def take_part(self):
        """The Part of this answer that is due to be written, with its store lock held until settle_part() lets go of
        it; None, holding nothing, when no text is due or another write of the answer is under way."""
        if self.unsaved_end or self._clock() < self._store_due or self.length() <= self._stored_chunks:
            return None
        if not self._store_lock.acquire(blocking=False):
            return None
        part = None
        try:
            part = self._due_part()
        finally:
            if part is None:
                self._store_lock.release()
        return part

    def _due_part(self):
        """The Part with the text no write has, under the store lock; None if there is none or the end is written."""
        upto = self.length()
        if self._stored_final or upto <= self._stored_chunks:
            return None
        if ends_in_half_a_pair(self.log[upto - 1]):
            # Kept for the next write, which has the other half: text is stored as UTF-8, which has no halves.
            upto -= 1
        self._taken = (upto, self._clock())
        text = "".join(self.log[self._stored_chunks : upto])
        return Part(self.turn.message_id, text, self._lead, self.provider, self.model, self.stats())

    def settle_part(self, part, written):
        """Let go of the store lock that take_part() took, the part stored if `written`, else due in RETRY_SECONDS."""
        try:
            if written:
                # Due again FLUSH_SECONDS after it was taken, however long the write took: text waits no longer.
                self._stored_chunks, taken_at = self._taken
                self._lead = lead_after(self._lead, part.text)
                self._store_due = taken_at + FLUSH_SECONDS
            else:
                self._store_due = self._clock() + RETRY_SECONDS
        finally:
            self._store_lock.release()

    def store_end_if_due(self):
        """Write an end that could not be written when it came, once RETRY_SECONDS have passed; True once written."""
        return self.unsaved_end and self._clock() >= self._store_due and self.store_end()

    def text(self):
        """The whole answer so far, including what it had before a continue."""
        return self.turn.prefix + "".join(itertools.islice(self.log, self.length()))

    def store_end(self):
        """Write the text no part has and how the answer ended; True once written (or its message is gone)."""
        with self._store_lock:
            if self._stored_final:
                return True
            text = "".join(self.log[self._stored_chunks : self.length()])
            message_id = self.turn.message_id
            try:
                with transaction(get_db()) as db:
                    end_answer(db, message_id, text, self.status, self.provider, self.model, self._end_stats, self.error)
            except StorageError as e:
                # The text stays here: the saver writes it once it can.
                log.error("could not save the end of the answer %s: %s", message_id, e.cause)
                self._store_due = self._clock() + RETRY_SECONDS
                return False
            self._stored_final = True
        return True

    def _final(self, status, error, kind, **fields):
        """End the stream and write the outcome before saying so: whoever gets the final frame can read it back.

        An end that cannot be written is not announced as the outcome: the listeners are told storage_failed (their
        text stays theirs), and the stream stays listed, so a resume gets its whole text, until the saver writes it.
        """
        if not self._end(status, error):
            return False
        self._end_stats = self.stats()
        saved = False
        try:
            saved = self.store_end()
        finally:
            if saved:
                self.streams.discard(self)
                self._send_final(kind, **fields)
            else:
                self.unsaved_end = True
                self._send_final("error", **unsaved_error())
        return True

    def outcome(self):
        """(status, text, error) of the answer after its end, as a resume tells it: storage_failed until it is written."""
        if self.unsaved_end:
            return "error", self.text(), unsaved_error()
        return self.status, self.text(), self.error


class LiveStreams:
    """The stored answers streaming in this process, by message id, and the thread that saves them as they grow (and
    writes an answer's end that could not be written when it came)."""

    def __init__(self, app):
        """Start empty; the saver runs only while answers stream."""
        self._lock = threading.Lock()
        self._streams = {}
        # A round that fails is logged, and what it was to write is written by a later round.
        self._saver = Patrol(app, "webui-saver", SAVER_TICK, self._lock, lambda: bool(self._streams), self._save_round)

    def add(self, stream):
        """List a stream that has started."""
        with self._lock:
            self._streams[stream.turn.message_id] = stream
            self._saver.wake()

    def _save_round(self):
        """Write the text of every answer that is due, all in one transaction (an answer whose message is gone stops),
        then the ends that could not be written when they came, one by one."""
        with self._lock:
            streams = list(self._streams.values())
        taken, gone = [], None
        try:
            for stream in streams:
                if (part := stream.take_part()) is not None:
                    taken.append((stream, part))
            if taken:
                gone = get_db().write(append_parts, [part for _, part in taken])
        except StorageError as e:
            log.error("could not save %d answers: %s", len(taken), e.cause)
        finally:
            for stream, part in taken:
                stream.settle_part(part, gone is not None)
        for stream, part in taken:
            if gone and part.message_id in gone:
                stream.finish("stopped")
        for stream in streams:
            if stream.store_end_if_due():
                self.discard(stream)

    def get(self, message_id):
        """The stream writing this message (running, or ended and not yet written), or None."""
        with self._lock:
            return self._streams.get(message_id)

    def discard(self, stream):
        """Forget a stream whose end is written."""
        with self._lock:
            if self._streams.get(stream.turn.message_id) is stream:
                del self._streams[stream.turn.message_id]

    def running(self, predicate):
        """The running streams whose turn satisfies `predicate` (not those that ended and wait to be written)."""
        with self._lock:
            return [stream for stream in self._streams.values() if not stream.finished and predicate(stream.turn)]


def init_app(app):
    """Give the app its registry of running stored answers."""
    app.extensions["webui.live"] = LiveStreams(app)


def get_live():
    """The current app's registry of running stored answers."""
    return current_app.extensions["webui.live"]
