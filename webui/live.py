"""Answers of stored conversations while they stream: written to SQLite as they grow, open to late listeners."""
import itertools
import logging
import threading
import time
from dataclasses import dataclass

from flask import current_app

from .bridge import Stream
from .database import StorageError
from .history import save_answer
from .storage import get_db, transaction

log = logging.getLogger(__name__)

# Streamed text waits at most about this long before it is written: what a crash can cost of an answer.
FLUSH_SECONDS = 0.4
# How often the saver looks for text that is due.
SAVER_TICK = FLUSH_SECONDS / 8


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


class StoredStream(Stream):
    """A stream that writes its answer into the message row and goes on when its sockets close."""

    detachable = True

    def __init__(self, listener, provider, model, turn, streams, clock=time.monotonic):
        """Stream `turn`'s answer; `streams` is the registry that lists it while it runs."""
        super().__init__(listener, provider, model, clock)
        self.turn = turn
        self.streams = streams
        self._store_lock = threading.Lock()
        self._stored_final = False
        self._stored_chunks = 0
        self._store_due = clock() + FLUSH_SECONDS

    def start_frame(self, request_id):
        """The start frame names the conversation and the messages, so the page can resume or reload."""
        return {
            **super().start_frame(request_id),
            "conversation_id": self.turn.conversation_id,
            "message_id": self.turn.message_id,
            "user_message_id": self.turn.user_message_id,
        }

    def store_if_due(self):
        """Write text that has waited long enough (the saver's job: the stream itself never waits for the database)."""
        if self.length() > self._stored_chunks and self._clock() >= self._store_due:
            self.store()

    def text(self):
        """The whole answer so far, including what it had before a continue."""
        return self.turn.prefix + "".join(itertools.islice(self.log, self.length()))

    def store(self, final=False):
        """Write the answer and its state; after the final write nothing older can overwrite it."""
        with self._store_lock:
            if self._stored_final:
                return
            self._stored_final = final
            self._stored_chunks = self.length()
            self._store_due = self._clock() + FLUSH_SECONDS
            try:
                with transaction(get_db()) as db:
                    save_answer(
                        db, self.turn.message_id, self.text(), self.status, self.provider, self.model, self.stats(), self.error
                    )
            except StorageError as e:
                # The stream goes on: the next write (at the latest the final one) may well succeed.
                log.error("could not save the answer %s: %s", self.turn.message_id, e.cause)

    def _final(self, status, error, kind, **fields):
        """End the stream and write the outcome before saying so: whoever gets the final frame can read it back."""
        if not self._end(status, error):
            return False
        try:
            self.store(final=True)
        finally:
            self.streams.discard(self)
            self._send_final(kind, **fields)
        return True


class LiveStreams:
    """The stored answers streaming in this process, by message id, and the thread that saves them as they grow."""

    def __init__(self, app):
        """Start empty; the saver runs only while answers stream."""
        self.app = app
        self._lock = threading.Lock()
        self._streams = {}
        self._saver = None

    def add(self, stream):
        """List a stream that has started."""
        with self._lock:
            self._streams[stream.turn.message_id] = stream
            if self._saver is None:
                self._saver = threading.Thread(target=self._save_due, name="webui-saver", daemon=True)
                self._saver.start()

    def _save_due(self):
        """Write each answer's text once it has waited FLUSH_SECONDS; stop when no answer streams.

        Nothing ends it but that: an answer it cannot write is logged and tried again, and the others are still saved.
        """
        with self.app.app_context():
            while True:
                time.sleep(SAVER_TICK)
                with self._lock:
                    streams = list(self._streams.values())
                    if not streams:
                        self._saver = None
                        return
                for stream in streams:
                    try:
                        stream.store_if_due()
                    except Exception:
                        log.exception("could not save the answer %s", stream.turn.message_id)

    def get(self, message_id):
        """The running stream writing this message, or None."""
        with self._lock:
            return self._streams.get(message_id)

    def discard(self, stream):
        """Forget a stream that has ended."""
        with self._lock:
            if self._streams.get(stream.turn.message_id) is stream:
                del self._streams[stream.turn.message_id]

    def running(self, predicate):
        """The running streams whose turn satisfies `predicate`."""
        with self._lock:
            return [stream for stream in self._streams.values() if predicate(stream.turn)]


def init_app(app):
    """Give the app its registry of running stored answers."""
    app.extensions["webui.live"] = LiveStreams(app)


def get_live():
    """The current app's registry of running stored answers."""
    return current_app.extensions["webui.live"]
