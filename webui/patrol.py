"""A background thread that does a round of work every few seconds while there is work, and never dies of it.

Invariant: the thread ends only while holding its owner's lock, having seen no work under it; `wake()` is called under
the same lock after work is added. So work is never left without a thread to do it, and no thread runs for nothing.
`hurry()` ends the pause before the next round; the pause's signal is cleared before the round looks at the work, so
work added after that look hurries the round after.
"""
import logging
import threading

from .cooperative import rest

log = logging.getLogger(__name__)


class Patrol:
    """Calls `round()` every `seconds`, in an app context, while `busy()` (read under `lock`) is true."""

    def __init__(self, app, name, seconds, lock, busy, round):
        """`lock` is the one that guards the work `busy()` looks at."""
        self.app = app
        self.name = name
        self.seconds = seconds
        self.lock = lock
        self.busy = busy
        self.round = round
        self._thread = None
        self._hurried = threading.Event()

    def wake(self):
        """Start the thread unless it runs; call it under `lock`, after adding work."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def hurry(self):
        """Start the next round now rather than at the end of the pause (starting the thread if it is not running);
        call it under `lock`, after adding work."""
        self._hurried.set()
        self.wake()

    def _run(self):
        """Rounds until there is no work; a round that fails is logged, and the next one comes all the same."""
        with self.app.app_context():
            while True:
                rest(self._hurried, self.seconds)
                self._hurried.clear()
                with self.lock:
                    if not self.busy():
                        self._thread = None
                        return
                try:
                    self.round()
                except Exception:
                    log.exception("a round of %s failed", self.name)
