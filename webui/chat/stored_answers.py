"""Answers of stored conversations while they run: appended to SQLite as they grow, open to late cursors.

Invariant: an answer's stored text is a prefix of its shown text, and what was shown FLUSH_SECONDS ago is stored unless
the database refuses (then it is tried again every RETRY_SECONDS, nothing dropped). Only the saver writes an answer
(see saver: one thread, one round at a time), so its writes never overlap: its parts while it answers, then, once it
has ended, its end, after which nothing. The final frame leaves only after the end is committed, so whoever gets it can
read the outcome back; an end that cannot be written is announced as storage_failed instead, and tried again.
"""
import threading
import time
from contextlib import contextmanager

from flask import current_app
from flask_babel import gettext as _

from ..errors import UserError
from ..patrol import Patrol
from ..shared import get_redis
from ..storage.answer_parts import End, Part, lead_after
from .answer import Answer
from .saver import Spell, save_round

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


class StoredAnswer(Answer):
    """An answer that appends its answer to its message as it grows (see answer_parts) and goes on when its sockets
    close. Its store state (what is written, when it is due) belongs to the saver's thread."""

    detachable = True

    def __init__(self, cursor, provider, model, turn, registry, clock=time.monotonic):
        """Run `turn`'s answer; `registry` (StoredAnswers) lists it until its end is written."""
        super().__init__(cursor, provider, model, clock)
        self.turn = turn
        self.registry = registry
        # Where the stored text ends: (chunks, characters of the next chunk), the second only when that chunk's last
        # character, half a surrogate pair, waits for its other half.
        self._stored = (0, 0)
        # The unfinished word the next part is indexed with in front of it: a continued answer's goes on its prefix's.
        self._lead = lead_after("", turn.prefix)
        self._store_due = clock() + FLUSH_SECONDS
        # While the saver writes a part: where it ends (as _stored), and when it was taken.
        self._taken = ((0, 0), 0.0)
        # Set by whoever ends the answer, before the end is handed to the saver: what it writes, then sends.
        self._end_stats = None
        self._final_frame = None
        # Worded here, in the reader's language: the saver that may send it has none.
        self._unsaved_error = unsaved_error()
        self._end_retry_at = None
        # The end could not be written when it came: its cursors were told storage_failed, and the saver tries again.
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
        """The Part of this answer that is due to be written, or None; the text of an answer that has ended goes with
        its end."""
        upto = len(self.log)
        if self.finished or self._clock() < self._store_due:
            return None
        text, end = self._unstored(upto), (upto, 0)
        if ends_in_half_a_pair(text):
            # Kept for the next write, which has the other half: text is stored as UTF-8, which has no halves.
            text, end = text[:-1], (upto - 1, len(self.log[upto - 1]) - 1)
        if not text:
            return None
        self._taken = (end, self._clock())
        return Part(self.turn.message_id, text, self._lead, self.provider, self.model, self.stats())

    def _unstored(self, upto):
        """The text of the chunks before chunk `upto` that is not stored yet."""
        chunks, chars = self._stored
        if chunks >= upto:
            return ""
        return self.log[chunks][chars:] + "".join(self.log[chunks + 1 : upto])

    def settle_part(self, part, written):
        """Mark the part that take_part() gave stored if `written`, else due again in RETRY_SECONDS."""
        if written:
            # Due again FLUSH_SECONDS after it was taken, however long the write took: text waits no longer.
            self._stored, taken_at = self._taken
            self._lead = lead_after(self._lead, part.text)
            self._store_due = taken_at + FLUSH_SECONDS
        else:
            self._store_due = self._clock() + RETRY_SECONDS

    def end_due(self):
        """Whether the saver is to write the end that was handed to it: at once, or RETRY_SECONDS after a failure."""
        return self._end_retry_at is None or self._clock() >= self._end_retry_at

    def end_chars(self):
        """How many characters the end writes into its message's content, which the search index takes in."""
        return len(self.turn.prefix) + self._end_stats["chars"]

    def take_end(self):
        """The End to write: the text no part has, and how the answer ended."""
        tail = self._unstored(len(self.log))
        return End(self.turn.message_id, tail, self.status, self.provider, self.model, self._end_stats, self.error)

    def settle_end(self, written):
        """After a round that tried to write the end: unlisted if `written`, else tried again in RETRY_SECONDS; the
        first try tells the cursors the outcome, or storage_failed if it was not written."""
        try:
            if written:
                self.registry.discard(self)
            else:
                self._end_retry_at = self._clock() + RETRY_SECONDS
            if not self.settled.is_set():
                kind, fields = self._final_frame if written else ("error", self._unsaved_error)
                self.unsaved_end = not written
                self._send_final(kind, **fields)
        finally:
            # The cursors are told (storage_failed instead of the final frame, if it was not written), or telling
            # them failed: either way nobody is to wait for this answer any longer.
            self.settled.set()

    def end_gone(self):
        """End as stopped, unless it has ended: its message is gone (its conversation deleted), so there is nothing
        to write, and the final frame goes at once."""
        if self._end("stopped", None):
            self._final_frame = ("done", {"reason": "stopped"})
            self.settle_end(True)

    def text(self):
        """The whole answer so far, including what it had before a continue."""
        return self.turn.prefix + "".join(self.log)

    def _final(self, status, error, kind, **fields):
        """End the answer and hand its end to the saver, which writes it, then sends the final frame (see settle_end).
        Returns once that frame is out, whoever ended the answer; False if it had already ended."""
        ended = self._end(status, error)
        if ended:
            self._end_stats = self.stats()
            self._final_frame = (kind, fields)
            self.registry.end(self)
        self.settled.wait()
        return ended

    def outcome(self):
        """(status, text, error) of the answer after its end, as a resume tells it (once the final frame is out):
        storage_failed until it is written."""
        self.settled.wait()
        if self.unsaved_end:
            return "error", self.text(), unsaved_error()
        return self.status, self.text(), self.error


class StoredAnswers:
    """The stored answers streaming in this process, by message id, and the thread that saves them as they grow and
    writes their ends."""

    def __init__(self, app, publisher):
        """Start empty; the saver runs only while answers are listed. `publisher`: with WEBUI_REDIS_URL, the
        shared.answer_log.Publisher that publishes every answer for the other workers too; else None."""
        self._lock = threading.Lock()
        self._answers = {}
        # Per owner, the turns being stored whose answers are not listed yet: they count toward the owner's cap.
        self._coming = {}
        # The answers that have ended whose ends are not written yet (as keys: a set that keeps its order).
        self._ending = {}
        # A round that fails is logged, and what it was to write is written by a later round.
        self._saver = Patrol(app, "webui-saver", SAVER_TICK, self._lock, self._busy, self._save_round)
        self._spell = Spell()
        self._publisher = publisher

    def add(self, answer):
        """List an answer that has started."""
        with self._lock:
            self._answers[answer.turn.message_id] = answer
            self._saver.wake()
        if self._publisher:
            self._publisher.track(answer)

    @contextmanager
    def slot(self, owner, most):
        """Hold one of the `most` answers `owner` may have running while a turn is stored and its answer listed;
        UserError when all are taken. Counted and taken under one lock, so two sockets of one owner cannot both take
        the last (storing the turn waits for the database)."""
        with self._lock:
            running = len(self._running(lambda turn: turn.owner == owner))
            if running + self._coming.get(owner, 0) >= most:
                message = _("Too many answers are being written for you at once; wait for one to finish.")
                raise UserError(message, code="rate_limited")
            self._coming[owner] = self._coming.get(owner, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._coming.pop(owner) - 1
                if left:
                    self._coming[owner] = left

    def end(self, answer):
        """Hand the end of an answer that has ended to the saver, whose next round comes at once."""
        with self._lock:
            self._ending[answer] = None
            self._saver.hurry()

    def _busy(self):
        """Whether an answer is listed or an end waits, under the lock."""
        return bool(self._answers or self._ending)

    def _save_round(self):
        """Write what is due of every listed answer (see saver.save_round); ends left over hurry the next round."""
        with self._lock:
            answers, ending = list(self._answers.values()), list(self._ending)
        if save_round(answers, ending, self._spell):
            with self._lock:
                self._saver.hurry()

    def get(self, message_id):
        """The answer writing this message (running, or ended and not yet written), or None."""
        with self._lock:
            return self._answers.get(message_id)

    def writing(self):
        """The ids of the messages this process writes: their answers run, or have ended with their end not yet
        written."""
        with self._lock:
            return set(self._answers)

    def discard(self, answer):
        """Forget an answer whose end is written."""
        with self._lock:
            self._ending.pop(answer, None)
            if self._answers.get(answer.turn.message_id) is answer:
                del self._answers[answer.turn.message_id]

    def running(self, predicate):
        """The answers whose turn satisfies `predicate` and whose final frame is not out: running, or ended with
        their end not yet tried (not those told storage_failed, whose end waits to be written again)."""
        with self._lock:
            return self._running(predicate)

    def _running(self, predicate):
        """running(predicate), under the lock."""
        return [answer for answer in self._answers.values() if not answer.settled.is_set() and predicate(answer.turn)]


def init_app(app):
    """Give the app its registry of running stored answers."""
    client = get_redis(app)
    publisher = reader = None
    if client is not None:
        # Only a server that shares loads shared/'s modules and redis-py (megabytes a process): see shared/__init__.
        from ..shared.answer_log import Publisher
        from ..shared.answer_reader import AnswerReader

        publisher = Publisher(app, client)
        # Follows, for resumes on this worker, the answers other workers run (see remote_answer).
        reader = AnswerReader(app, client)
    app.extensions["webui.stored_answers"] = StoredAnswers(app, publisher)
    app.extensions["webui.answer_reader"] = reader


def get_stored_answers():
    """The current app's registry of running stored answers."""
    return current_app.extensions["webui.stored_answers"]
