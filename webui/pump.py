"""The pump: one thread that calls each socket's outbox (see outbox.py) at the deadline it asked for."""
import heapq
import itertools
import logging
import threading
import time

log = logging.getLogger(__name__)

# The pump looks at its deadlines at most this often, so hundreds of paced sockets cost it one wake-up per tick.
TICK_SECONDS = 0.005
# An idle pump thread ends after this long; the next deadline starts another.
IDLE_SECONDS = 2.0


class Pump:
    """The thread that calls outboxes at their deadlines; it runs while any deadline is set."""

    def __init__(self):
        """No thread until the first deadline."""
        self._cond = threading.Condition()
        self._deadlines = []
        self._order = itertools.count()
        self._thread = None

    def at(self, due, outbox):
        """Call `outbox.due()` at monotonic time `due`, or soon after."""
        with self._cond:
            first = not self._deadlines or due < self._deadlines[0][0]
            heapq.heappush(self._deadlines, (due, next(self._order), outbox))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="webui-pump", daemon=True)
                self._thread.start()
            elif first:
                self._cond.notify()

    def _next(self):
        """The outboxes whose deadline has come, waiting for one; None when the thread should end."""
        with self._cond:
            while True:
                if not self._deadlines:
                    if not self._cond.wait(IDLE_SECONDS) and not self._deadlines:
                        self._thread = None
                        return None
                    continue
                wait = self._deadlines[0][0] - time.monotonic()
                if wait <= 0:
                    break
                self._cond.wait(max(wait, TICK_SECONDS))
            now = time.monotonic()
            ready = []
            while self._deadlines and self._deadlines[0][0] <= now:
                ready.append(heapq.heappop(self._deadlines)[2])
            return ready

    def _run(self):
        """Call each outbox whose deadline has come, until none is set."""
        while (ready := self._next()) is not None:
            for outbox in ready:
                try:
                    outbox.due()
                except Exception:
                    # One socket's failure must not end the thread that retries every other socket.
                    log.exception("a socket's queue failed at its deadline")
