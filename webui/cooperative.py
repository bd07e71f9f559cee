"""`webui serve` runs on gevent: every connection and every provider generator is a greenlet in one thread.

Providers are plain blocking generators (they sleep, they read sockets with requests). With gevent's patches those
calls let the other greenlets run instead of holding an OS thread each, so hundreds of streams do not queue for
the GIL (bench figure 3: 500 streams went from seconds late to tens of milliseconds). What does not yield, because
it computes in C (llama.cpp, scrypt), is run in a native thread with in_native_thread(). Everything here does
nothing in a process that gevent has not patched: the development server keeps its threads.
"""
import sys
import warnings

_END = object()


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


def in_native_thread(function, *args):
    """`function(*args)`, computed where it stops only its caller: under gevent in a pool thread, else right here."""
    if not patched():
        return function(*args)
    import gevent

    return gevent.get_hub().threadpool.apply(function, args)


def native_steps(iterator):
    """The items of `iterator`, each step computed by in_native_thread()."""
    iterator = iter(iterator)
    if not patched():
        yield from iterator
        return
    while (item := in_native_thread(next, iterator, _END)) is not _END:
        yield item


def send_without_waiting(raw):
    """`raw.send(data)` that takes what the socket has room for and returns, raising BlockingIOError if none."""
    import socket

    if type(raw).__module__.startswith("gevent."):
        # A gevent socket would otherwise wait, as a greenlet, until a slow reader made room.
        return lambda data: raw.send(data, socket.MSG_DONTWAIT, timeout=0.0)
    return lambda data: raw.send(data, socket.MSG_DONTWAIT)
