"""Worker leases in Redis: each serving process says it lives and which answers it runs; answers nobody runs end.

Invariant: an answer `streaming` in the database is marked interrupted only once every round of one worker for
SUSPECT_SECONDS, each of which read the database and then Redis without error, found it in no live worker's list. Each
worker lists every answer it writes at each renewal (every RENEW_SECONDS, far within SUSPECT_SECONDS), so an answer
whose writer lives is never ended, wherever that writer runs, including one it started just before a round read the
database. A round that cannot read Redis forgets every suspect: after an outage the clock starts again once Redis
answers, by when the live workers have listed theirs again. One rule so covers a worker that died (its lease and list
expire after LEASE_SECONDS), a worker that restarts (it only ever ends what no live lease lists), a Redis that lost
everything while workers ran (they list theirs again) and answers left by servers that were all down (listed by none).
Its price: a worker whose event loop stalls for longer than LEASE_SECONDS + SUSPECT_SECONDS has its answers marked
interrupted while it still writes them; their text is kept, and the end it writes later sets their status.
All the servers of one database must share one Redis, or none: a server without a lease lists nothing.
"""
import logging
import os
import socket
import threading
import time
import uuid

from sqlalchemy import select

from ..chat.stored_answers import get_stored_answers
from ..patrol import Patrol
from ..storage import get_db
from ..storage.answer_parts import interrupt, interrupting
from ..storage.database import StorageError
from ..storage.schema import messages
from ..storage.search import json_list, listed
from . import get_redis
from .outage import UNREACHED, get_outage

log = logging.getLogger(__name__)

RENEW_SECONDS = 1.0
LEASE_SECONDS = 4
SUSPECT_SECONDS = 3.0
WORKERS = "webui:workers"
# What goes before and after a worker's id in the name of the hash of its open socket counts (see limits.py).
SOCKETS_KEY = ("webui:worker:", ":sockets")
# The answers streaming in the database, whoever writes them.
STREAMING = select(messages.c.id).where(messages.c.status == "streaming")
# Those of the JSON list `message_ids` made interrupted.
INTERRUPTING = interrupting(messages.c.id.in_(select(listed("message_ids").c.value)))


def lease_key(worker):
    """The key whose life is the worker's."""
    return f"webui:worker:{worker}"


def answers_key(worker):
    """The set of message ids the worker writes."""
    return f"webui:worker:{worker}:answers"


class Lease:
    """This process's lease: renewed, with its answers and socket counts, every RENEW_SECONDS by one patrol, while
    another ends the answers no live worker lists (see the invariant above)."""

    def __init__(self, app):
        """A new id, which no earlier process had; nothing is written before start()."""
        self.app = app
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # message id -> when a round first found it streaming and listed by no live worker
        self._suspects = {}
        self._database_ok = True
        self._lock = threading.Lock()
        # Two threads: a renewal never waits for the database, which a busy process may keep waiting for seconds (its
        # native threads all taken, a table locked) while its answers are alive and well.
        self._renewal = Patrol(app, "webui-lease", RENEW_SECONDS, self._lock, lambda: True, self.renew)
        self._search = Patrol(app, "webui-orphans", RENEW_SECONDS, self._lock, lambda: True, self.round)

    def start(self):
        """Renew, and look for answers nobody runs, from now on, in background threads, for the rest of the process."""
        with self._lock:
            self._renewal.hurry()
            self._search.hurry()

    def sockets_key(self, worker):
        """The hash of the worker's open socket counts (see limits.py)."""
        return SOCKETS_KEY[0] + worker + SOCKETS_KEY[1]

    def ttl_ms(self):
        """How long a worker's keys outlive its last renewal."""
        return LEASE_SECONDS * 1000

    def renew(self):
        """Write this worker's lease, answers and socket counts."""
        get_outage(self.app).call(self._renew, get_redis(self.app), get_stored_answers().writing())

    def round(self):
        """End the answers no live worker has listed for SUSPECT_SECONDS."""
        streaming = self._streaming()
        # Taken after the database was read: an answer this worker started before that read is among them.
        mine = get_stored_answers().writing()
        listed = get_outage(self.app).call(self._listed, get_redis(self.app))
        if listed is UNREACHED or streaming is None:
            self._suspects.clear()
            return
        now = time.monotonic()
        orphans = streaming - mine - listed
        self._suspects = {message_id: self._suspects.get(message_id, now) for message_id in orphans}
        due = [message_id for message_id, since in self._suspects.items() if now - since >= SUSPECT_SECONDS]
        if due:
            interrupt(get_db(), INTERRUPTING, {"message_ids": json_list(due)})
            log.warning("marked %d answers interrupted: no live worker wrote them", len(due))
            for message_id in due:
                del self._suspects[message_id]

    def _streaming(self):
        """The ids of the answers streaming in the database, or None when it cannot be read (logged once a spell)."""
        try:
            rows = get_db().execute(STREAMING)
        except StorageError as e:
            if self._database_ok:
                log.warning("the lease cannot see the answers streaming in the database: %s", e.cause)
            self._database_ok = False
            return None
        self._database_ok = True
        return {row[0] for row in rows}

    def _renew(self, client, mine):
        """Write this worker's lease, answers and socket counts."""
        sockets = self.app.extensions["webui.sockets"]
        counts, counted = sockets.counts()
        with client.pipeline(transaction=True) as pipe:
            pipe.set(lease_key(self.id), "1", ex=LEASE_SECONDS)
            pipe.delete(answers_key(self.id), self.sockets_key(self.id))
            if mine:
                pipe.sadd(answers_key(self.id), *mine)
            if counts:
                pipe.hset(self.sockets_key(self.id), mapping=counts)
            pipe.expire(answers_key(self.id), LEASE_SECONDS)
            pipe.expire(self.sockets_key(self.id), LEASE_SECONDS)
            pipe.sadd(WORKERS, self.id)
            pipe.execute()
        sockets.written(counted)

    def _listed(self, client):
        """The message ids every live worker lists."""
        known = sorted(worker.decode() for worker in client.smembers(WORKERS))
        with client.pipeline(transaction=False) as pipe:
            for worker in known:
                pipe.exists(lease_key(worker))
                pipe.smembers(answers_key(worker))
            replies = pipe.execute()
        lists = dict(zip(known, replies[1::2]))
        alive = [worker for worker, exists in zip(known, replies[::2]) if exists]
        dead = set(known) - set(alive)
        if dead:
            client.srem(WORKERS, *dead)
        return {message_id.decode() for worker in alive for message_id in lists[worker]}


def start(app):
    """Give the serving process its lease (see serving.start_serving)."""
    lease = app.extensions["webui.lease"] = Lease(app)
    lease.start()
    return lease
