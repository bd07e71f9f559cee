"""Calls to Redis that give way to this process's own state while Redis cannot be reached, logging each outage once."""
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
    """Whether Redis answers, as the last call found it; one per app, shared by everything that falls back."""

    def __init__(self):
        """Start hopeful."""
        self._lock = threading.Lock()
        self._down = False
        self._retry_at = 0.0

    def call(self, function, *args, **kwargs):
        """`function(*args, **kwargs)`, or UNREACHED when Redis failed it or failed a call less than RETRY_SECONDS
        ago; the first failure of an outage and the first success after it are logged."""
        if time.monotonic() < self._retry_at:
            return UNREACHED
        try:
            result = function(*args, **kwargs)
        except redis.RedisError as e:
            with self._lock:
                self._retry_at = time.monotonic() + RETRY_SECONDS
                first, self._down = not self._down, True
            if first:
                # The error names the host and port, never the URL's password.
                log.warning("Redis cannot be reached (%s): limits are this process's own until it answers", e)
            return UNREACHED
        if self._down:
            with self._lock:
                back, self._down = self._down, False
            if back:
                log.warning("Redis answers again: limits, sign-outs and leases are shared again")
        return result


def get_outage(app=None):
    """The Outage of `app` (the current app by default)."""
    app = app or current_app
    outage = app.extensions.get("webui.redis_outage")
    if outage is None:
        outage = app.extensions.setdefault("webui.redis_outage", Outage())
    return outage
