"""Running stored answers published to Redis Streams, so that a worker that does not run an answer can resume and stop it.

Invariants:
- Only the process that runs an answer writes its stream, `webui:answer:<message id>`, and only from its publisher
  (one thread per process, a round every PUBLISH_SECONDS while it runs answers). A round is one pipelined round trip
  for all of the process's answers together: their new chunks, their ends, and (every STOP_READ_SECONDS) a read of
  their stop markers; a round with none of these makes no trip.
- An entry (see read_entry) is either chunks — its `seq` (how many chunks of this run come before its first), `at`
  (how many characters of the message come before it, a continued answer's earlier text included) and the chunks, at
  most ENTRY_CHARS characters unless one chunk alone is longer — or, last, the final frame as the answer's own
  cursors were told it, without a request id. Entries follow one another with no
  gap: each one's `seq` is the one before's plus its chunks. Readers place every chunk by its number, so an entry
  written twice is no duplicate.
- The publisher keeps, per answer, how many chunks it has published. A round that fails, or is not tried while Redis
  cannot be reached (see outage.py), publishes nothing more for now; the next round that succeeds writes the answer's
  start and its whole log again from chunk 0, so a reader finds no gap whatever Redis lost, and skips what it already
  has.
- A stream keeps about MAXLEN entries (trimmed every TRIM_EVERY); a reader whose place was trimmed gets the text before the oldest entry from
  the database (stored at most about 0.4 s behind what was shown), then the stream (see answer_reader). A stream (and
  its start) expires ENDED_SECONDS after its final entry, or RUNNING_SECONDS after the worker that ran it died.
- The start of a running answer lives LIVE_SECONDS unless its publisher refreshes it (every LIVE_SECONDS / 3, with
  the stream's RUNNING_SECONDS): a follower whose answer's start has gone (its worker died) ends as `interrupted`, as
  the answer is stored.
- Each entry names its run: a random id, in the start too, new for each answer written into the message (a
  `continue` writes the same message again, in the same stream, counting its chunks from 0). Readers take only their
  run's entries; another worker stops an answer by setting `webui:stop:<message id>` to its run, so that a stop meant
  for an earlier run stops nothing.
"""
import array
import bisect
import itertools
import json
import logging
import secrets
import sys
import threading
import time

from flask_babel import gettext as _
from redis import RedisError

from ..errors import UserError
from ..patrol import Patrol
from .outage import UNREACHED, get_outage

log = logging.getLogger(__name__)

PUBLISH_SECONDS = 0.025
ENTRY_CHARS = 16 * 1024
MAXLEN = 4096
TRIM_EVERY = 32
ENDED_SECONDS = 300
RUNNING_SECONDS = 60
LIVE_SECONDS = 6
STOP_SECONDS = 60
# The stop markers are read at most this often, not at every round: a stop set on any worker ends its answer within
# this and one round, far within the 2 s a stop may take, for one read where every round would make ten.
STOP_READ_SECONDS = 0.25
# An answer that has ended is kept for its final entry at most this long while Redis cannot be reached (its followers
# elsewhere have been told shared_unavailable by then): its text is not held for ever.
KEEP_ENDED_SECONDS = 30


def stream_key(message_id):
    """The stream of an answer's chunks."""
    return f"webui:answer:{message_id}"


def start_key(message_id):
    """The start frame of an answer's run and the run's id (JSON)."""
    return f"webui:answer-start:{message_id}"


def stop_key(message_id):
    """Set to a run's id by a worker that stops it."""
    return f"webui:stop:{message_id}"


def unavailable():
    """The error for a request that needs what the workers share while Redis cannot be reached."""
    message = _("The server's workers cannot reach their shared store right now; try again in a moment.")
    return UserError(message, code="shared_unavailable")


def entries(run, chunks, seq, at):
    """The values of the chunk entries of the run `run`'s `chunks`, the first of which is chunk number `seq` at
    character `at`."""
    # The cuts are found by bisection over the running total of the chunks' lengths: a round may carry a hundred
    # thousand chunks of a fast provider, which a loop over each in Python would make the publisher's main cost.
    lengths = list(map(len, chunks))
    ends = list(itertools.accumulate(lengths))
    begin, before = 0, 0
    while begin < len(chunks):
        end = max(begin + 1, bisect.bisect_right(ends, before + ENTRY_CHARS, begin))
        yield chunk_entry(run, seq + begin, at + before, chunks[begin:end], lengths[begin:end])
        begin, before = end, ends[end - 1]


def chunk_entry(run, seq, at, chunks, lengths):
    """The value of one chunk entry (see read_entry)."""
    # UTF-8 that keeps a lone half of a surrogate pair (a provider may cut an emoji in two between chunks).
    text = "".join(chunks).encode("utf-8", "surrogatepass")
    return b"%s %d %d %d\n%s%s" % (run.encode(), seq, at, len(chunks), packed(lengths), text)


def packed(lengths):
    """Chunk lengths as little-endian 32-bit numbers: a few bytes per chunk, made and read at C speed."""
    numbers = array.array("I", lengths)
    if sys.byteorder == "big":
        numbers.byteswap()
    return numbers.tobytes()


def final_entry(run, seq, told):
    """The value of the final entry: the final frame `told`, after `seq` chunks."""
    return b"%s %d\n%s" % (run.encode(), seq, json.dumps(told).encode())


def read_entry(fields):
    """An entry as read from the stream: {"run", "seq", "at", "chunks": list or None, "final": the frame or None}.

    Each entry has one field, so that the publisher's command is short (redis-py's packing of each argument was most
    of its cost): `c`, "<run> <seq> <at> <count>\\n", the chunks' lengths (see packed) and their UTF-8; or `f`,
    "<run> <seq>\\n" and the final frame's JSON."""
    if b"f" in fields:
        head, _, frame = fields[b"f"].partition(b"\n")
        run, seq = head.decode().split()
        return {"run": run, "seq": int(seq), "at": 0, "chunks": None, "final": json.loads(frame)}
    head, _, body = fields[b"c"].partition(b"\n")
    run, seq, at, count = head.decode().split()
    size = 4 * int(count)
    numbers = array.array("I")
    numbers.frombytes(body[:size])
    if sys.byteorder == "big":
        numbers.byteswap()
    text = body[size:].decode("utf-8", "surrogatepass")
    ends = list(itertools.accumulate(numbers))
    chunks = [text[end - length : end] for end, length in zip(ends, numbers)]
    return {"run": run, "seq": int(seq), "at": int(at), "chunks": chunks, "final": None}


class Published:
    """What one running answer has in Redis: the publisher's, touched only by its thread."""

    def __init__(self, answer):
        """Nothing published yet."""
        self.answer = answer
        self.run = secrets.token_urlsafe(9)
        self.stopping = False
        self.ended_at = None
        self.added = 0
        self.restart()

    def restart(self):
        """Publish everything again from chunk 0 (the start too) at the next round."""
        self.sent = 0
        self.chars = len(self.answer.turn.prefix)
        self.start = None
        self.pending = None
        self.live_until = 0.0

    def queue(self, pipe):
        """Queue this round's writes on `pipe` (what they publish counts once commit() says they went through);
        whether they end with the final entry."""
        answer = self.answer
        message_id = answer.turn.message_id
        key = stream_key(message_id)
        ended = answer.settled.is_set()
        upto = len(answer.log)
        if ended and self.ended_at is None:
            self.ended_at = time.monotonic()
        chunks = answer.log[self.sent : upto]
        # The start frame is fixed once a chunk is out (see Answer.via): a remote cursor's is the one published then.
        start = answer.start_frame(None) if self.sent == 0 else self.start
        now, live_until = time.monotonic(), self.live_until
        if start != self.start or (now >= live_until and not ended):
            # Written before the entries, so that whoever finds them finds it; while the answer runs, again every
            # LIVE_SECONDS / 3, which keeps it (and the stream) alive: see the module's invariants.
            pipe.set(start_key(message_id), json.dumps({"frame": start, "run": self.run}), ex=LIVE_SECONDS)
            pipe.expire(key, RUNNING_SECONDS)
            live_until = now + LIVE_SECONDS / 3
        if self.start is None and not chunks and not ended:
            # The stream exists from the start, so that a worker can tell a running answer from one that is not.
            self.add(pipe, key, b"c", chunk_entry(self.run, 0, self.chars, [], []))
        for value in entries(self.run, chunks, self.sent, self.chars):
            self.add(pipe, key, b"c", value)
        chars = self.chars + sum(map(len, chunks))
        if ended:
            self.add(pipe, key, b"f", final_entry(self.run, upto, answer.told or {"type": "done", "reason": answer.status}))
            pipe.expire(key, ENDED_SECONDS)
            pipe.expire(start_key(message_id), ENDED_SECONDS)
        self.pending = (upto, chars, start, live_until)
        return ended

    def add(self, pipe, key, field, value):
        """Queue an entry; every TRIM_EVERY entries the stream is trimmed to about MAXLEN (the trim's arguments cost
        as much as the rest of the command)."""
        self.added += 1
        if self.added % TRIM_EVERY:
            pipe.execute_command("XADD", key, "*", field, value)
        else:
            pipe.execute_command("XADD", key, "MAXLEN", "~", MAXLEN, "*", field, value)

    def commit(self):
        """The round's writes went through: they are published."""
        self.sent, self.chars, self.start, self.live_until = self.pending


class Publisher:
    """The thread that publishes this process's running stored answers and stops those another worker stopped."""

    def __init__(self, app, client):
        """Publish through `client` (see webui.shared); nothing tracked yet."""
        self.client = client
        self._outage = get_outage(app)
        self._lock = threading.Lock()
        self._tracked = {}
        self._stops_read_at = 0.0
        self._patrol = Patrol(app, "webui-publisher", PUBLISH_SECONDS, self._lock, lambda: bool(self._tracked), self._round)

    def track(self, answer):
        """Publish a stored answer that has started, until its final frame is published."""
        with self._lock:
            self._tracked[answer] = Published(answer)
            # Published at the next tick, not at once: a round now would delay the answer's first chunk; a resume on
            # another worker meanwhile waits for it (see remote_answer.PUBLISH_WAIT_SECONDS).
            self._patrol.wake()

    def _round(self):
        """Publish what is new of every tracked answer and, if it is time, read their stop markers, in one round
        trip."""
        with self._lock:
            tracked = list(self._tracked.values())
        pipe = self.client.pipeline(transaction=False)
        ended = [published for published in tracked if published.queue(pipe)]
        now = time.monotonic()
        looking = now - self._stops_read_at >= STOP_READ_SECONDS
        running = [published for published in tracked if not published.answer.finished] if looking else []
        if running:
            self._stops_read_at = now
            pipe.mget([stop_key(published.answer.turn.message_id) for published in running])
        if not len(pipe):
            return  # nothing new: no trip, which would tell nothing of Redis either
        replies = self._outage.call(pipe.execute)
        if replies is UNREACHED:
            for published in tracked:
                published.restart()
            self._forget(published for published in ended if time.monotonic() - published.ended_at > KEEP_ENDED_SECONDS)
            return
        for published in tracked:
            published.commit()
        self._forget(ended)
        stops = replies[-1] if running else []
        for published, marker in zip(running, stops):
            if marker is not None and marker.decode() == published.run and not published.stopping:
                published.stopping = True
                self._stop(published)

    def _forget(self, answers):
        """Stop tracking these Published answers."""
        with self._lock:
            for published in answers:
                self._tracked.pop(published.answer, None)

    def _stop(self, published):
        """End an answer another worker stopped, in a thread of its own (the end waits for its write)."""
        message_id = published.answer.turn.message_id
        log.info("answer %s stopped from another worker", message_id)
        threading.Thread(target=self._end_stopped, args=(published.answer,), name="webui-remote-stop", daemon=True).start()

    def _end_stopped(self, answer):
        """Stop the answer and clear its marker."""
        answer.finish("stopped")
        try:
            self.client.delete(stop_key(answer.turn.message_id))
        except RedisError:
            pass  # it expires, and names this run only
