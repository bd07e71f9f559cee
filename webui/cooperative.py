"""Living on gevent: C work in native threads, deadlines, interruptions, turns for busy generators, unblocking sends.

`webui` and `webui serve` run on gevent: every connection, its writer and every provider generator is a greenlet in
one thread. Providers are plain blocking generators (they sleep, they read sockets with requests). With gevent's
patches those calls let the other greenlets run instead of holding an OS thread each, so hundreds of answers do not
queue for the GIL (figure 3 in bench/README.md). What does not yield, because it computes in C (llama.cpp, scrypt), is
run in a native thread with in_native_thread(). Nothing preempts a greenlet: on_loop_held() has a native thread tell
whoever listens what holds the loop when it is held. Everything here does nothing in a process that gevent has not
patched (the tests' in-process server, whose requests are threads).
"""
import contextvars
import itertools
import os
import socket
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import cache

_END = object()
# A provider that never blocks (its chunks are ready at once) lets the other greenlets run after this many chunks.
CHUNKS_PER_TURN = 256
# The loop shows it is free this often; held this long without a turn, the watchman looks at what holds it.
BEAT_SECONDS = 0.05
HELD_SECONDS = 0.25
# This process's watchman, if one watches: (the process id, the listeners, the beat's timer). A forked worker starts
# its own.
_watchman = None


def patch():
    """Make sleeps, sockets, locks and threads yield to other greenlets, for the rest of this process."""
    from gevent import monkey

    # gevent warns because ssl is already imported (Flask imports it), but what needs the patched ssl is the HTTP
    # client (urllib3 binds ssl.SSLContext at import), and the providers import it only after this.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", monkey.MonkeyPatchWarning)
        monkey.patch_all()
def patched():
    """Whether this process runs on gevent."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("threading")


def native_lock():
    """A lock of the operating system's, even under gevent: for critical sections in which nothing can wait or yield
    (no I/O, no sleep, no other lock), so no greenlet can find it held by another greenlet of its thread. A lock that
    knows greenlets costs ten times more per chunk and buys nothing there."""
    if not patched():
        return threading.Lock()
    from gevent import monkey

    return monkey.get_original("_thread", "allocate_lock")()


def rest(event, seconds):
    """Wait until `event` is set or `seconds` have passed, whichever is first.

    Under gevent, Event.wait(timeout) raises a Timeout exception into the waiting greenlet when the time is up: it
    costs a writer that rests after every write (hundreds of times a second per socket under load) more than its
    send. Here a timer and the event both wake one Waiter, which takes the first wake and keeps any later one.
    """
    if not patched():
        event.wait(seconds)
        return
    if event.is_set():
        return
    from gevent.hub import Waiter, get_hub

    hub = get_hub()
    waiter = Waiter(hub)
    wake = waiter.switch
    timer = hub.loop.timer(seconds)
    timer.start(wake, None)
    event.rawlink(wake)
    try:
        waiter.get()
    finally:
        timer.close()
        event.unlink(wake)


def in_native_thread(function, *args, pool=None):
    """`function(*args)`, computed where it stops only its caller: under gevent in a thread of `pool` (gevent's own
    unless given), else right here. It runs in a copy of the caller's context (the app, the request, its language),
    which waits for it meanwhile."""
    if not patched():
        return function(*args)
    import gevent

    # Not `pool or …`: a pool with no task running is falsy (its len is its tasks).
    pool = gevent.get_hub().threadpool if pool is None else pool
    pending = pool.spawn(contextvars.copy_context().run, function, *args)
    try:
        return pending.get()
    except BaseException:
        # The caller was interrupted (see interrupter) while the call goes on, maybe with what the caller holds and
        # is about to let go: a model, its lock. It waits for the call to end before the exception goes on.
        pending.wait()
        raise


def interrupter(exception):
    """Under gevent, `interrupt(wanted)`: raise `exception` in the calling greenlet where it waits, if `wanted()` still
    holds when the hub gets to it. None with threads, which nothing can interrupt."""
    if not patched():
        return None
    import gevent

    greenlet = gevent.getcurrent()
    loop = gevent.get_hub().loop

    def interrupt(wanted):
        """Schedule the exception; gevent.kill() would throw it whatever the greenlet is doing by then."""

        def throw():
            """Raise it now, in the greenlet, unless that has moved past the point where it may be raised."""
            if not greenlet.dead and wanted():
                greenlet.throw(exception)

        loop.run_callback(throw)

    return interrupt


@cache
def _deadline_pool():
    """Threads for within() in a process without gevent (whose requests are threads already)."""
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="webui-within")


def within(seconds, function, *args):
    """`function(*args)` computed in a native thread, or None when it is not done within `seconds`.

    The caller waits at most `seconds`, and under gevent only as a greenlet; a late computation finishes unheeded,
    so `function` must be one whose cost its input bounds.
    """
    if not patched():
        try:
            return _deadline_pool().submit(function, *args).result(timeout=seconds)
        except FutureTimeout:
            return None
    import gevent

    # The wait for a free pool thread counts towards the deadline too.
    with gevent.Timeout(seconds, False):
        return gevent.get_hub().threadpool.spawn(function, *args).get()
    return None


def native_steps(iterator, pool=None):
    """The items of `iterator`, each step computed by in_native_thread() in `pool`."""
    iterator = iter(iterator)
    if not patched():
        yield from iterator
        return
    while (item := in_native_thread(next, iterator, _END, pool=pool)) is not _END:
        yield item


def taking_turns(iterator):
    """The items of `iterator`; under gevent, the other greenlets run after every CHUNKS_PER_TURN of them.

    Nothing preempts a greenlet: a generator that never blocks would keep the only thread until its answer ends,
    holding every other answer, page and socket writer.
    """
    if not patched():
        return iterator
    import gevent

    iterator = iter(iterator)

    def turns():
        """Runs of items with a turn for the others between two: sliced and chained in C, so that an item, which is
        every chunk of every answer, costs no Python call."""
        while (first := next(iterator, _END)) is not _END:
            yield (first,)
            yield itertools.islice(iterator, CHUNKS_PER_TURN - 1)
            gevent.sleep(0)

    return itertools.chain.from_iterable(turns())


def send_without_waiting(raw):
    """`raw.send(data)` that takes what the socket has room for and returns, raising BlockingIOError if none."""
    if type(raw).__module__.startswith("gevent."):
        # A gevent socket would otherwise wait, as a greenlet, until a slow reader made room.
        return lambda data: raw.send(data, socket.MSG_DONTWAIT, timeout=0.0)
    return lambda data: raw.send(data, socket.MSG_DONTWAIT)


def on_loop_held(listener):
    """Under gevent, from now on in this process: `listener(frame, seconds)` each time the loop has had no turn for
    HELD_SECONDS (again every BEAT_SECONDS while it stays held), with the frame the loop's thread is running and how
    long it has been held. Called in a native thread while the loop is held, it must not wait or log: it sets what the
    loop's greenlets will look at. Costs nothing per greenlet switch (gevent's own monitor traces every switch, which
    costs a tenth of a streamed chunk's CPU): a timer on the loop counts beats, which the watchman reads."""
    global _watchman
    if not patched():
        return
    if _watchman is None or _watchman[0] != os.getpid():
        import gevent
        from gevent import monkey

        beats = [0]

        def beat():
            """Count a turn of the loop."""
            beats[0] += 1

        timer = gevent.get_hub().loop.timer(BEAT_SECONDS, BEAT_SECONDS)
        timer.ref = False  # the beat alone does not keep the loop running
        timer.start(beat)
        _watchman = (os.getpid(), [], timer)
        loop_thread = monkey.get_original("_thread", "get_ident")()
        monkey.get_original("_thread", "start_new_thread")(_watch, (loop_thread, beats, _watchman[1]))
    _watchman[1].append(listener)


def _watch(loop_thread, beats, listeners):
    """The watchman's native thread: every BEAT_SECONDS, whether the loop has beaten since; if it has not for
    HELD_SECONDS, tell the listeners what its thread runs."""
    from gevent import monkey

    sleep = monkey.get_original("time", "sleep")
    seen, since = beats[0], time.monotonic()
    while True:
        sleep(BEAT_SECONDS)
        now = time.monotonic()
        if beats[0] != seen:
            seen, since = beats[0], now
        elif now - since >= HELD_SECONDS:
            frame = sys._current_frames().get(loop_thread)
            for listener in listeners:
                listener(frame, now - since)
