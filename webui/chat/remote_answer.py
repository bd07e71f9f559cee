"""Resuming a stored answer that another worker runs: its chunks from the Redis Stream that worker publishes.

A RemoteAnswer is an Answer whose chunks come from the stream (see shared.answer_log) instead of a provider: it holds
only the chunks its cursor lacks (`first` is the cursor's place), places each chunk by its number so that none is
sent twice or skipped, and ends with the final frame the running worker published. Its socket gets the same frames
as from a local resume. A stop sets the stop marker; the running worker ends the answer, whose final frame comes back
through the stream as for any follower.
"""
import time

from flask import current_app

from ..shared import get_redis
from ..shared.answer_log import STOP_SECONDS, stop_key, unavailable
from ..shared.answer_reader import catch_up
from ..shared.outage import UNREACHED, get_outage
from .answer import Answer, Cursor, past_the_end

# How long a resume waits for an answer that is streaming in storage to be published (a few publisher rounds).
PUBLISH_WAIT_SECONDS = 0.2


class RemoteAnswer(Answer):
    """Another worker's running answer, followed for one cursor of this process from its place on."""

    def __init__(self, cursor, start, message_id, run, client, last_id):
        """Follow the run `run` of the answer writing `message_id`, whose stream this cursor has read up to
        `last_id`; `start` is its start frame."""
        self.first = cursor.sent
        super().__init__(cursor, start["provider"], start["model"])
        self._start = start
        self.message_id = message_id
        self.run = run
        self.client = client
        self.last_id = last_id
        # Looks of the reader in a row that found the answer's start gone (see AnswerReader._check_alive).
        self.missed = 0
        self.stop_asked = False
        self._outage = get_outage()
        # Worded now, in the reader's language: the reader thread that may need it has none.
        self._unreachable = unavailable().message

    def start_frame(self, request_id):
        """The start frame the running worker published."""
        return {**self._start, "request_id": request_id}

    def read(self, entries):
        """Take the entries (id, fields) past `last_id`, oldest first: chunks, then the final frame."""
        for key, entry in entries:
            if key <= self.last_id or self.finished or entry["run"] != self.run:
                continue
            self.last_id = key
            if entry["final"] is not None:
                if entry["seq"] > self.first + len(self.log):
                    return self.unreachable()
                return self._told(entry["final"])
            if not self._add(entry["seq"], entry["chunks"]):
                return self.unreachable()

    def _add(self, seq, chunks):
        """Add the chunks numbered from `seq` that it lacks and wake its cursor; False if some before them are
        missing (the stream lost them)."""
        # One thread at a time adds to the log (the resume's until it hands the answer to the reader, then the
        # reader's), so its length holds still meanwhile.
        have = self.first + len(self.log)
        if seq > have:
            return False
        for text in chunks[have - seq :]:
            self.delta(text)
        return True

    def _told(self, told):
        """End with the final frame the running worker's cursors had."""
        if self._end(told.get("reason", "error"), None):
            self._tell(told)

    def interrupted(self):
        """End as interrupted: the worker that ran the answer died, which leaves it interrupted in storage."""
        self._told({"type": "done", "reason": "interrupted"})

    def unreachable(self):
        """End with shared_unavailable: the stream cannot be read, or lost chunks this cursor lacks."""
        self.fail("shared_unavailable", self._unreachable)

    def stop(self):
        """Ask the worker that runs the answer to stop it; its final frame comes through the stream. Without Redis
        the answer cannot be stopped from here: this request ends with shared_unavailable, its one final frame."""
        if self._outage.call(self.client.set, stop_key(self.message_id), self.run, ex=STOP_SECONDS) is UNREACHED:
            self.unreachable()
        else:
            # The reader asks again at each of its looks, until the answer's final frame comes.
            self.stop_asked = True
        return True


def published_answer(client, message_id, after):
    """What catch_up finds of the answer's stream; shared_unavailable if Redis cannot be reached, or if no worker
    publishes the answer within PUBLISH_WAIT_SECONDS."""
    deadline, outage = time.monotonic() + PUBLISH_WAIT_SECONDS, get_outage()
    while True:
        found = outage.call(catch_up, client, message_id, after)
        if found is UNREACHED:
            raise unavailable()
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            # Streaming in storage, yet published by no worker: it died (its answer is marked interrupted within
            # seconds), or cannot reach Redis, or Redis has just come back and it has not published the answer again.
            raise unavailable()
        # Its worker has only just started it (the row is written before the first round publishes the answer).
        time.sleep(PUBLISH_WAIT_SECONDS / 10)


def published_chunks(entries):
    """How many chunks of its run the stream has, given its entries up to the newest (catch_up)."""
    newest = entries[-1][1] if entries else {"seq": 0, "chunks": None}
    return newest["seq"] + len(newest["chunks"] or ())


def follow(writer, request_id, message, after, stored_text):
    """A cursor of `writer` following the answer `message` (a row of the reader's, `streaming`, run by no answer of
    this process) from chunk `after`. `stored_text()` reads the message's stored text again, for a place the stream no
    longer holds."""
    client = get_redis()
    published, entries, reached = published_answer(client, message["id"], after)
    if after > published_chunks(entries):
        # Its publisher may be a round behind the page that was sent those chunks.
        time.sleep(PUBLISH_WAIT_SECONDS)
        published, entries, reached = published_answer(client, message["id"], after)
        if after > published_chunks(entries):
            raise past_the_end()
    start = {**published["frame"], "request_id": request_id}
    cursor = Cursor(writer, request_id, after)
    prefix = None
    if not reached:
        # Trimmed (or lost with a Redis restart) past the reader's place: the text before the oldest entry is read
        # from storage, which is at most about half a second behind, and replaces the page's, as a replay does.
        if not entries or entries[0][1]["chunks"] is None:
            raise unavailable()
        seq, at = entries[0][1]["seq"], entries[0][1]["at"]
        text = stored_text()
        if len(text) < at:
            raise unavailable()
        cursor.sent, prefix = seq - 1, text[:at]
        start["replay"] = True
    remote = RemoteAnswer(cursor, start, message["id"], published["run"], client, (0, 0))
    if prefix is not None:
        remote._add(seq - 1, [prefix])
    remote.read(entries)
    if not remote.finished:
        current_app.extensions["webui.answer_reader"].follow(remote)
    return cursor
