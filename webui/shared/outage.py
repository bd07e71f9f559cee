"""Whether Redis answers: one record per process of what its calls found, each outage logged once as it begins and ends.

Everything in the process that uses Redis does the same while Redis cannot be reached: it calls through `call` (or
reports with `failed` and `answered` what a call of its own found), and after a failure nobody calls Redis for
RETRY_SECONDS, so no request waits for the client's timeout again and again. What each does meanwhile is its own:
- the limits (limits.py) count in this process alone, and the lease (workers.py) suspects no answer;
- a sign-out (signouts.py) reaches this worker's sockets only, and the listener subscribes again every RETRY_SECONDS;
  the other workers' session checks close the rest;
- the publisher (answer_log.py) publishes nothing, and once Redis answers writes each running answer again whole, for
  Redis may have lost what it had;
- the answer reader (answer_reader.py) ends its followers with shared_unavailable once Redis has been unreachable for
  its OUTAGE_SECONDS: they cannot get the rest of their answers;
- a resume or a stop of an answer another worker runs (chat/remote_answer.py) gets shared_unavailable at once.
"""
import logging
import threading
import time

import redis
from flask import current_app

log = logging.getLogger(__name__)

# After a call fails, Redis is left alone this long: meanwhile callers use this process's own state at once instead of
# each waiting for the client's timeout.
RETRY_SECONDS = 1.0
# What `Outage.call` returns when Redis did not answer.
UNREACHED = object()


class Outage:
    """Whether Redis answers, as the last call found it; one per app, shared by everything that uses Redis."""

    def __init__(self):
        """Start hopeful."""
        self._lock = threading.Lock()
        # When the outage began (time.monotonic()), or None while Redis answers.
        self.down_since = None
        self._retry_at = 0.0

    def call(self, function, *args, **kwargs):
        """`function(*args, **kwargs)`, or UNREACHED when Redis failed it or failed a call less than RETRY_SECONDS
        ago."""
        if self.resting():
            return UNREACHED
        try:
            result = function(*args, **kwargs)
        except redis.RedisError as e:
            self.failed(e)
            return UNREACHED
        self.answered()
        return result

    def resting(self):
        """Whether a call failed less than RETRY_SECONDS ago: Redis is left alone until then."""
        return time.monotonic() < self._retry_at

    def failed(self, error):
        """A call found Redis unreachable (`error`): the first failure of an outage is logged."""
        with self._lock:
            now = time.monotonic()
            self._retry_at = now + RETRY_SECONDS
            first = self.down_since is None
            if first:
                self.down_since = now
        if first:
            # The error names the host and port, never the URL's password.
            log.warning(
                "Redis cannot be reached (%s): limits are this process's own, running answers are neither published "
                "nor followed and sign-outs reach this worker only, until it answers",
                error,
            )

    def answered(self):
        """A call went through: the first one after an outage is logged."""
        if self.down_since is None:
            return
        with self._lock:
            back, self.down_since = self.down_since is not None, None
        if back:
            log.warning("Redis answers again: limits, running answers, sign-outs and leases are shared again")


def get_outage(app=None):
    """The Outage of `app` (the current app by default)."""
    app = app or current_app
    outage = app.extensions.get("webui.redis_outage")
    if outage is None:
        outage = app.extensions.setdefault("webui.redis_outage", Outage())
    return outage
