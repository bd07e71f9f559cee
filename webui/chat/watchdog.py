"""The watchdog of running answers: it times out a provider silent past its idle limit and interrupts an ended one.

One thread per app, while answers run, looks at each a few times a second. Under gevent it raises Interrupted in the
greenlet of an answer that has ended (stop, timeout, a closed socket) while that greenlet waits inside the provider (a
read, a sleep, a lock), so the generator unwinds and its `finally` runs at once; a plain thread cannot be interrupted,
and its generator is closed when it next yields.
"""
import logging
import threading
import time
from contextlib import contextmanager

from flask_babel import gettext as _

from ..cooperative import interrupter
from ..patrol import Patrol

log = logging.getLogger(__name__)

# How often the watchdog looks at the running answers: how late a timeout or an interruption may come.
PATROL_SECONDS = 0.25


class Interrupted(BaseException):
    """Raised into the thread running an answer that has ended: not an Exception, so that a provider's
    `except Exception` lets it through."""


class Watch:
    """One running answer as the watchdog sees it; its thread may be interrupted only while `in_provider`."""

    def __init__(self, answer, idle_seconds, timeout_message, now):
        """Watch `answer`; silence starts counting now."""
        self.answer, self.idle_seconds, self.timeout_message = answer, idle_seconds, timeout_message
        self.interrupt, self.in_provider = interrupter(Interrupted), True
        self.chunks, self.active_at = 0, now

    def check(self, now):
        """Time the answer out when its provider has been silent too long; interrupt its thread once it has ended."""
        answer = self.answer
        if not answer.finished:
            chunks = len(answer.log)
            if chunks != self.chunks:
                self.chunks, self.active_at = chunks, now
            elif now - self.active_at >= self.idle_seconds:
                answer.fail("timeout", self.timeout_message)
        if answer.finished and self.interrupt:
            interrupt, self.interrupt = self.interrupt, None
            interrupt(lambda: self.in_provider)


class Watchdog:
    """The watches of one app's running answers, and the thread that checks them while any runs."""

    def __init__(self, app):
        """Nothing is watched yet; the thread starts with the first watch."""
        self.idle_seconds = app.config["WEBUI_PROVIDER_IDLE_SECONDS"]
        self._lock = threading.Lock()
        self._watches = set()
        self._patrol = Patrol(app, "webui-watchdog", PATROL_SECONDS, self._lock, lambda: bool(self._watches), self._round)

    @contextmanager
    def watching(self, answer, provider):
        """Watch `answer`, which `provider` runs in this thread, for as long as the block runs."""
        seconds = provider.idle_limit(self.idle_seconds)
        # Worded here, in the answer's thread and language: the watchdog's thread has neither.
        message = _(
            "%(provider)s sent nothing for %(seconds)s s, so the answer was ended.", provider=provider.name, seconds=f"{seconds:g}"
        )
        watch = Watch(answer, seconds, message, time.monotonic())
        with self._lock:
            self._watches.add(watch)
            self._patrol.wake()
        try:
            yield watch
        finally:
            with self._lock:
                self._watches.discard(watch)

    def _round(self):
        """Look at every running answer."""
        with self._lock:
            watches = list(self._watches)
        now = time.monotonic()
        for watch in watches:
            try:
                watch.check(now)
            except Exception:
                # One answer that cannot be ended (its final write failed) must not leave the others unwatched.
                log.exception("the watchdog could not end an answer")
