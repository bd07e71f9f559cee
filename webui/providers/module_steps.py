"""A drop-in module's answers under gevent: on the event loop until it is found computing there, then in native threads.

A module's sleeps and reads yield to the other greenlets, but what it computes holds the only thread: every other
page, socket and answer waits, and the watchdog cannot end it (see cooperative.py). Running every step in a native
thread would cost each chunk of the modules that only wait a trip to gevent's small pool. So a module runs on the loop
until the loop is found held (cooperative.on_loop_held) with the module's own code running; from then on every step
of its answers runs in a native thread, from the next step of the answers it is running. Nothing preempts the step
under way: it holds the loop until it returns.
"""
import logging
import os
import time
import weakref
from itertools import repeat
from operator import itemgetter
from types import GeneratorType

from ..cooperative import in_native_thread, native_lock, native_steps, on_loop_held, patched

log = logging.getLogger(__name__)

# The files of the modules found computing: their answers' steps run in native threads. Only ever added to, by the
# watchman's thread (one set.add, which no greenlet can see half done).
computing = set()
# The files whose finding the log has told: once each.
_told = set()
# The answers of each module file now running on the loop, for the watchman to move; guarded by _lock, which nothing
# holds across a wait.
_running = {}
_lock = native_lock()
# The process that listens to the watchman (a forked worker listens for itself).
_listening = None
# Threads for the steps of the modules found computing, a pool of their own: a step left computing after its answer
# timed out keeps its thread, and enough of them must not take every thread the database and llama.cpp wait for in
# gevent's pool (ten). Beyond this many, steps wait for one another.
STEP_THREADS = 8
_pools = {}


class Stepping:
    """One answer of a drop-in module, running on the loop until its module is found computing; then the steps left
    move to native threads."""

    def __init__(self, path):
        """An answer of the module in file `path`."""
        self.path = path
        # What the answer's next step is taken from: the generator, until found() puts in_threads() in its place.
        self.source = None
        self.generator = None
        # When the module began holding the loop, as far as the watchman saw.
        self.since = None

    def found(self, since):
        """In the watchman's thread: the module holds the loop (since `since`); the step under way ends on the loop,
        and the greenlet takes the next one from in_threads()."""
        if self.since is None:
            self.since = since
        generator = self.generator
        if generator is not None and self.source[0] is generator:
            self.source[0] = self.in_threads()

    def in_threads(self):
        """The answer's steps left, each in a native thread; the first tells the log why."""
        tell(self.path, time.perf_counter() - self.since)
        yield from native_steps(self.generator, step_pool())


class Chunks(map):
    """An answer's chunks, each the next item of what its source holds: map, repeat and itemgetter are C, so a chunk
    costs no Python call (runner.relay takes hundreds at a time without one), and the watchman may change the source
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
            in_native_thread(stepping.generator.close, pool=step_pool())
        else:
            stepping.generator.close()


def step_pool():
    """This process's threads for the steps of computing modules (a forked worker makes its own)."""
    pid = os.getpid()
    if pid not in _pools:
        from gevent.threadpool import ThreadPool

        _pools.clear()
        _pools[pid] = ThreadPool(STEP_THREADS)
    return _pools[pid]


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


def held(frame, seconds):
    """The watchman's listener: if a module's own code is running in the loop's held thread, mark the module and move
    every answer of it that runs on the loop."""
    since = time.perf_counter() - seconds
    while frame is not None:
        path = frame.f_code.co_filename
        with _lock:
            answers = list(_running.get(path, ()))
        if answers or path in _running:
            computing.add(path)
            for stepping in answers:
                stepping.found(since)
            return
        frame = frame.f_back


def running(stepping):
    """List `stepping`'s answer as one the watchman may move, for as long as it lives."""
    global _listening
    if _listening != os.getpid():
        _listening = os.getpid()
        on_loop_held(held)
    with _lock:
        _running.setdefault(stepping.path, weakref.WeakSet()).add(stepping)


def start(module, create):
    """What `create()` (the call of the module's _create_completion) returns; under gevent, a generator's chunks as
    Chunks, stepped on the loop until the module is found computing, and in native threads once it has been."""
    if not patched():
        return create()
    path = getattr(module, "__file__", None) or repr(module)
    stepping = Stepping(path)
    if path in computing:
        result = in_native_thread(create, pool=step_pool())
    else:
        running(stepping)
        started = time.perf_counter()
        result = create()
        if path in computing:
            # Found computing while it started the answer: the answer's steps go to threads from the first.
            tell(path, time.perf_counter() - started)
    if not isinstance(result, GeneratorType):
        return result
    # The source before the generator: the watchman reads the source once it sees the generator.
    stepping.source = [native_steps(result, step_pool()) if path in computing else result]
    stepping.generator = result
    return Chunks(stepping)
