"""Living on gevent: C work in native threads, deadlines, interruptions, turns for busy generators, unblocking sends.

`webui` and `webui serve` run on gevent: every connection, its writer and every provider generator is a greenlet in
one thread. Providers are plain blocking generators (they sleep, they read sockets with requests). With gevent's
patches those calls let the other greenlets run instead of holding an OS thread each, so hundreds of answers do not
queue for the GIL (figure 3 in bench/README.md). What does not yield, because it computes in C (llama.cpp, scrypt), is
run in a native thread with in_native_thread(). Nothing preempts a greenlet, so gevent's monitor thread looks for one
that holds the loop, and when_blocking() lets a greenlet's owner hear of it. Everything here does nothing in a process
that gevent has not patched (the tests' in-process server, whose requests are threads).
"""
import contextvars
import itertools
import socket
import sys
import threading
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import cache

_END = object()
# A provider that never blocks (its chunks are ready at once) lets the other greenlets run after this many chunks.
CHUNKS_PER_TURN = 256
# What to call, in gevent's monitor thread, when a greenlet is found holding the loop: set by when_blocking().
_on_blocking = weakref.WeakKeyDictionary()


def patch():
    """Make sleeps, sockets, locks and threads yield to other greenlets, for the rest of this process."""
    from gevent import monkey

    # gevent warns because ssl is already imported (Flask imports it), but what needs the patched ssl is the HTTP
    # client (urllib3 binds ssl.SSLContext at import), and the providers import it only after this.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", monkey.MonkeyPatchWarning)
        monkey.patch_all()
    _monitor_blocking()


def _monitor_blocking():
    """Have gevent's monitor thread look, every max_blocking_time (gevent's 0.1 s unless GEVENT_MAX_BLOCKING_TIME says
    otherwise), whether one greenlet has held the loop since its last look. Set before the hub starts, which starts
    the thread (in each process: a forked worker's hub starts its own)."""
    import gevent
    from gevent import events

    gevent.config.monitor_thread = True
    # Without psutil, the monitor warns at each start that it cannot watch memory, which nothing here asks of it.
    warnings.filterwarnings("ignore", "Unable to monitor memory usage")
    try:
        # Each look that finds the loop held would print every thread's and greenlet's stack (see _light_looks).
        gevent.config.print_blocking_reports = False
    except AttributeError:
        pass  # a gevent older than 25.4.1: _light_looks makes no report to print
    events.subscribers.append(_on_monitor_event)


def _on_monitor_event(event):
    """gevent's events, in the thread that notifies them: the monitor starting, a greenlet found holding the loop."""
    from gevent import events

    if isinstance(event, events.PeriodicMonitorThreadStartedEvent):
        _light_looks(event.monitor)
    elif isinstance(event, events.EventLoopBlocked):
        callback = _on_blocking.get(event.greenlet)
        if callback:
            callback(event.blocking_time)


def _light_looks(monitor):
    """Put, in the monitor's place, a look that only tells EventLoopBlocked: gevent's own also builds a report of every
    thread and greenlet (a megabyte, and 0.1 s of the interpreter, with a thousand greenlets) at each look, which
    comes every max_blocking_time for as long as the loop is held."""
    import gevent
    from gevent import events

    # gevent offers its count of greenlet switches only with that report: the tracer is its monitor's own.
    tracer = getattr(monitor, "_greenlet_tracer", None)
    if tracer is None:
        return

    def look(hub):
        """Tell of the greenlet that has held the loop since the last look, if one has."""
        blocked = tracer.did_block_hub(hub)
        if blocked:
            events.notify(events.EventLoopBlocked(blocked[1], gevent.config.max_blocking_time, [], hub=hub))

    monitor.add_monitoring_function(look, gevent.config.max_blocking_time)
    monitor.add_monitoring_function(monitor.monitor_blocking, None)


def when_blocking(callback):
    """Under gevent, until the calling greenlet ends or calls this again: `callback(seconds)` each time the monitor
    finds it holding the loop, `seconds` (at least) since the monitor's last look. It is called in the monitor's
    thread while the greenlet still holds the loop, so it must not wait, lock or log: it sets what the greenlet will
    look at."""
    if patched():
        import gevent

        _on_blocking[gevent.getcurrent()] = callback


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


def in_native_thread(function, *args):
    """`function(*args)`, computed where it stops only its caller: under gevent in a pool thread, else right here. It
    runs in a copy of the caller's context (the app, the request, its language), which waits for it meanwhile."""
    if not patched():
        return function(*args)
    import gevent

    pending = gevent.get_hub().threadpool.spawn(contextvars.copy_context().run, function, *args)
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


def native_steps(iterator):
    """The items of `iterator`, each step computed by in_native_thread()."""
    iterator = iter(iterator)
    if not patched():
        yield from iterator
        return
    while (item := in_native_thread(next, iterator, _END)) is not _END:
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
