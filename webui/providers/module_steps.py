"""A drop-in module's answers under gevent: on the event loop until it is found computing there, then in native threads.

A module's sleeps and reads yield to the other greenlets, but what it computes holds the only thread: every other
page, socket and answer waits, and the watchdog cannot end it (see cooperative.py). Running every step in a native
thread would cost each chunk of the modules that only wait a trip to gevent's small pool. So a module runs on the loop
until gevent's monitor finds it holding the loop while it starts an answer or takes a step; from then on every step
of its answers runs in a native thread, from the next step of the answer it was found in. Nothing preempts that step
itself: it holds the loop until it returns.
"""
import logging
import time
from itertools import repeat
from operator import itemgetter
from types import GeneratorType

from ..cooperative import in_native_thread, native_steps, patched, when_blocking

log = logging.getLogger(__name__)

# The files of the modules found computing: their answers' steps run in native threads. Only ever added to, by the
# monitor's thread (one set.add, which no greenlet can see half done).
computing = set()
# The files whose finding the log has told: once each.
_told = set()


class Stepping:
    """One answer of a drop-in module as gevent's monitor sees it: found computing while the module starts it or takes
    a step, the module is marked and the answer's steps left move to native threads."""

    def __init__(self, path):
        """An answer of the module in file `path`, about to be started in this greenlet."""
        self.path = path
        self.starting = True
        # The module's generator, once it has returned one; `source` holds it before it is set.
        self.generator = None
        # What the answer's next step is taken from: the generator, until the monitor puts in_threads() in its place.
        self.source = None
        # When the module began holding the loop, as far as the monitor saw.
        self.since = None

    def blocking(self, seconds):
        """In the monitor's thread: the answer's greenlet has held the loop for `seconds`; the module is to blame if it
        holds it in its own code (while starting the answer or taking a step), not the server between two steps."""
        generator = self.generator
        if not (self.starting or (generator is not None and generator.gi_running)):
            return
        if self.since is None:
            self.since = time.perf_counter() - seconds
        computing.add(self.path)
        if generator is not None and self.source[0] is generator:
            # The step under way ends on the loop; the greenlet takes the next one from here.
            self.source[0] = self.in_threads()

    def in_threads(self):
        """The answer's steps left, each in a native thread; the first tells the log why."""
        tell(self.path, time.perf_counter() - self.since)
        yield from native_steps(self.generator)


class Chunks(map):
    """An answer's chunks, each the next item of what its source holds: map, repeat and itemgetter are C, so a chunk
    costs no Python call (runner.relay takes hundreds at a time without one), and the monitor may change the source
    between two steps."""

    def __new__(cls, stepping):
        """The chunks of the answer `stepping` watches."""
        chunks = super().__new__(cls, next, map(itemgetter(0), repeat(stepping.source)))
        chunks.stepping = stepping
        return chunks

    def close(self):
        """Close the module's generator, which runs its `finally`: in a native thread if the module computes."""
        stepping = self.stepping
        if stepping.path in computing:
            in_native_thread(stepping.generator.close)
        else:
            stepping.generator.close()


def tell(path, seconds):
    """Log, once per module, that the module in `path` held the server for `seconds` and computes in threads now."""
    if path not in _told:
        _told.add(path)
        log.warning(
            "provider module %s held the server for at least %.1f s computing (every other request waited); "
            "its steps now run in a thread of their own",
            path,
            seconds,
        )


def start(module, create):
    """What `create()` (the call of the module's _create_completion) returns; under gevent, a generator's chunks as
    Chunks, stepped on the loop until the monitor finds the module computing, and in native threads once it has."""
    if not patched():
        return create()
    path = getattr(module, "__file__", None) or repr(module)
    stepping = Stepping(path)
    if path in computing:
        result = in_native_thread(create)
        stepping.starting = False
        if not isinstance(result, GeneratorType):
            return result
        stepping.source = [native_steps(result)]
    else:
        when_blocking(stepping.blocking)
        started = time.perf_counter()
        try:
            result = create()
        finally:
            stepping.starting = False
            if stepping.since is not None:
                tell(path, time.perf_counter() - started)
        if not isinstance(result, GeneratorType):
            return result
        # The source first: the monitor reads it once it sees the generator.
        stepping.source = [result]
    stepping.generator = result
    return Chunks(stepping)
