"""Other workers' running answers read from their Redis Streams (see answer_log): a resume's catch-up, and the reader.

A resume reads the stream backwards from its end, page by page, to the entry that holds the chunk after its place
(usually the last entry or two), in its own greenlet: the reconnect costs a round trip or two. From there the reader
follows: one XREAD, blocking at most BLOCK_MS, over the streams of every answer this process follows, so a thousand
followers hold one Redis connection, not a thousand. A follower that joins while that XREAD waits is read by the
next one; it has had everything up to its catch-up, and each entry goes to each follower once (by its id), each chunk
once (by its number).
"""
import json
import threading
import time

from ..patrol import Patrol
from .answer_log import STOP_SECONDS, read_entry, start_key, stop_key, stream_key
from .outage import UNREACHED, get_outage

# The longest an XREAD waits for new entries: how late a follower that has just joined gets its first live chunk.
BLOCK_MS = 100
# Entries read per stream per XREAD, and per page of a catch-up.
READ_COUNT = 256
# Followers are told that the shared store is unavailable once it has not answered for this long.
OUTAGE_SECONDS = 5.0
# A reader that did not reach Redis looks again after this long (it tries Redis again once outage.py lets it).
IDLE_SECONDS = 0.25
# How often the reader looks whether the followed answers' starts are still there (see answer_log.LIVE_SECONDS); one
# that is missing twice in a row belongs to a worker that died.
ALIVE_CHECK_SECONDS = 2.0


def entry_id(raw):
    """A stream entry's id as a pair of numbers, which compare as Redis orders them."""
    ms, _, seq = (raw.decode() if isinstance(raw, bytes) else raw).partition("-")
    return int(ms), int(seq or 0)


def catch_up(client, message_id, after):
    """What the stream of a running answer has from chunk `after` on: (its start and run, as published; the entries of
    that run oldest first, as (id, entry); whether the first entry holds chunk `after` or an earlier one). None if no
    worker publishes the answer. Raises RedisError."""
    key = stream_key(message_id)
    pipe = client.pipeline(transaction=False)
    pipe.get(start_key(message_id))
    pipe.xrevrange(key, "+", "-", count=READ_COUNT)
    start, page = pipe.execute()
    if start is None or not page:
        return None
    published = json.loads(start)
    found = []
    while page:
        for raw_id, fields in page:
            entry = read_entry(fields)
            if entry["run"] != published["run"]:
                # An earlier answer written into the same message (before a `continue`): this run begins after it,
                # unless its first entries are not written yet (then none is).
                return (published, found[::-1], False) if found else None
            found.append((entry_id(raw_id), entry))
            if entry["chunks"] is not None and entry["seq"] <= after:
                return published, found[::-1], True
        page = client.xrevrange(key, f"({raw_id.decode()}", "-", count=READ_COUNT)
    return published, found[::-1], False


class AnswerReader:
    """The thread that follows, for this process, the running answers of other workers (see remote_answer)."""

    def __init__(self, app, client):
        """Read through `client`; nothing followed yet."""
        self.client = client
        self._outage = get_outage(app)
        self._lock = threading.Lock()
        self._followers = []
        self._check_at = 0.0
        self._patrol = Patrol(app, "webui-answer-reader", 0, self._lock, lambda: bool(self._followers), self._round)

    def follow(self, remote):
        """Read the stream of `remote` (a RemoteAnswer) past its `last_id` until it ends."""
        with self._lock:
            self._followers.append(remote)
            self._patrol.wake()

    def _round(self):
        """One XREAD over the followed streams, each from the oldest place a follower of it has."""
        with self._lock:
            self._followers = followers = [remote for remote in self._followers if not remote.finished]
        by_key = {}
        for remote in followers:
            by_key.setdefault(stream_key(remote.message_id), []).append(remote)
        places = {key: min(remote.last_id for remote in group) for key, group in by_key.items()}
        if not places:
            return
        streams = {key: f"{ms}-{seq}" for key, (ms, seq) in places.items()}
        reply = self._outage.call(self.client.xread, streams, count=READ_COUNT, block=BLOCK_MS)
        if reply is UNREACHED:
            self._unreachable(followers)
            return
        for raw_key, items in reply or []:
            key = raw_key.decode()
            read = [(entry_id(raw_id), read_entry(fields)) for raw_id, fields in items]
            for remote in by_key.get(key, ()):
                remote.read(read)
        if time.monotonic() >= self._check_at:
            self._check_alive(followers)

    def _check_alive(self, followers):
        """End, as interrupted, the followers whose answer's start was missing at this look and the one before."""
        self._check_at = time.monotonic() + ALIVE_CHECK_SECONDS
        pipe = self.client.pipeline(transaction=False)
        for remote in followers:
            pipe.exists(start_key(remote.message_id))
        # A stop asked through this worker is asked again at each look until the answer ends: the marker is the one
        # thing a Redis that restarted empty does not get back from the live workers.
        for remote in followers:
            if remote.stop_asked:
                pipe.set(stop_key(remote.message_id), remote.run, ex=STOP_SECONDS)
        found = self._outage.call(pipe.execute)
        if found is UNREACHED:
            return  # the next XREAD is not tried either, and tells the followers if Redis stays gone
        # The replies to the stops come after those to the looks, which zip leaves out.
        for remote, exists in zip(followers, found):
            remote.missed = 0 if exists else remote.missed + 1
            if remote.missed >= 2:
                remote.interrupted()

    def _unreachable(self, followers):
        """Redis did not answer: look again shortly; once it has not for OUTAGE_SECONDS the followers end with an
        error."""
        down_since = self._outage.down_since
        if down_since is not None and time.monotonic() - down_since >= OUTAGE_SECONDS:
            for remote in followers:
                remote.unreachable()
        time.sleep(IDLE_SECONDS)
