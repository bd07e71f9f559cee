"""Limits: request rates, the back-off after failed sign-ins, and the open WebSockets with their caps."""
import ipaddress
import logging
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from flask import current_app, request

from ..storage.database import StorageError

log = logging.getLogger(__name__)

# Rate state is kept per client; beyond this many clients the least recently seen are forgotten, so a flood
# of addresses cannot grow memory without bound.
MAX_KEYS = 10_000
# How often open sockets are checked against their sessions, which another process (`webui user`) may end.
CHECK_SECONDS = 2.0


def client_key():
    """The client for rate limits: its address, or its /64 for IPv6 (one host is often given a whole /64)."""
    address = request.remote_addr or ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "address:" + address
    if ip.version == 6:
        if ip.ipv4_mapped:
            return "address:" + str(ip.ipv4_mapped)
        return "address:" + str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return "address:" + str(ip)


def touch(mapping, key, value):
    """Store `value` as the most recently used entry, dropping the least recently used beyond MAX_KEYS."""
    mapping.pop(key, None)
    mapping[key] = value
    if len(mapping) > MAX_KEYS:
        del mapping[next(iter(mapping))]


class Window:
    """At most `limit` events per key in any `seconds` (a limit of 0 means none)."""

    def __init__(self, limit, seconds=60.0, clock=time.monotonic):
        """Start with no events."""
        self.limit = limit
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._events = {}

    def hit(self, key):
        """Count an event for `key`; False, and not counted, when the key is at its limit."""
        if not self.limit:
            return True
        now = self.clock()
        with self._lock:
            events = self._events.get(key, deque())
            while events and events[0] <= now - self.seconds:
                events.popleft()
            allowed = len(events) < self.limit
            if allowed:
                events.append(now)
            touch(self._events, key, events)
            return allowed

    def wait(self, key):
        """Seconds until `key` may have another event (0: now)."""
        with self._lock:
            events = self._events.get(key)
            if not self.limit or not events or len(events) < self.limit:
                return 0.0
            return max(0.0, events[0] + self.seconds - self.clock())


@dataclass
class Failures:
    """One client's recent failed sign-ins."""

    times: list = field(default_factory=list)
    strikes: int = 0
    until: float = 0.0


@dataclass(frozen=True)
class Attempt:
    """A sign-in counted as failed before it was checked: the record it went into and the wait it may have begun."""

    failures: Failures
    at: float
    until_before: float
    until_after: float


class Backoff:
    """Failed sign-ins per client: `free` in a window, then a wait that doubles with every further failure."""

    def __init__(self, free=5, window=60.0, first_wait=30.0, longest=900.0, clock=time.monotonic):
        """`longest` caps the wait, and that long without a failure forgives the client."""
        self.free = free
        self.window = window
        self.first_wait = first_wait
        self.longest = longest
        self.clock = clock
        self._lock = threading.Lock()
        self._clients = {}

    def wait(self, key):
        """Seconds `key` must wait before it may try again (0: now)."""
        with self._lock:
            failures = self._clients.get(key)
        return max(0.0, failures.until - self.clock()) if failures else 0.0

    def attempt(self, key):
        """Count an attempt as a failure before it is checked, so that a burst of attempts meets the wait after the
        `free`-th, not after all were checked; None, and nothing counted, while `key` must wait. From the `free`-th
        within the window on, each one doubles the wait. An attempt that succeeds is taken back with `forgive`."""
        now = self.clock()
        with self._lock:
            failures = self._clients.get(key)
            if failures is not None and failures.until > now:
                return None
            if failures is None or (failures.times and now - failures.times[-1] > self.longest):
                failures = Failures()
            failures.times = [t for t in failures.times if t > now - self.window] + [now]
            until_before = failures.until
            if len(failures.times) >= self.free:
                failures.until = now + min(self.first_wait * 2**failures.strikes, self.longest)
                failures.strikes += 1
            touch(self._clients, key, failures)
            return Attempt(failures, now, until_before, failures.until)

    def forgive(self, attempt):
        """Take back an attempt that succeeded, and the wait it began unless a later attempt began another."""
        with self._lock:
            failures = attempt.failures
            if attempt.at in failures.times:
                failures.times.remove(attempt.at)
            if attempt.until_after != attempt.until_before and failures.until == attempt.until_after:
                failures.until = attempt.until_before
                failures.strikes -= 1


class BackedOff(Exception):
    """An attempt refused, with nothing counted: `waits` holds the seconds each back-off makes its key wait (0: none)."""

    def __init__(self, waits):
        """Keep the waits."""
        super().__init__(waits)
        self.waits = waits


class Backoffs:
    """Back-offs that one attempt meets together, each for a key of its own (a sign-in: its address's, its account's):
    an attempt is counted under every one of them, or under none."""

    def __init__(self, *backoffs):
        """The back-offs, in the order of the keys each attempt names."""
        self.backoffs = backoffs

    def attempt(self, keys):
        """Count an attempt under each back-off, for its key in `keys`, before it is checked (see Backoff.attempt): the
        Attempts to forgive if it succeeds. Raises BackedOff, with nothing counted, while any key must wait."""
        pairs = list(zip(self.backoffs, keys))
        attempts = [backoff.attempt(key) for backoff, key in pairs]
        if None in attempts:
            self.forgive(attempts)
            raise BackedOff([backoff.wait(key) for backoff, key in pairs])
        return attempts

    def forgive(self, attempts):
        """Take back an attempt that succeeded (or was never checked)."""
        for backoff, attempt in zip(self.backoffs, attempts):
            if attempt is not None:
                backoff.forgive(attempt)


class SocketRefused(Exception):
    """A WebSocket that may not open: `code` is "busy" (the server is full) or "rate_limited" (its owner is)."""

    def __init__(self, code):
        """Keep the reason's code."""
        super().__init__(code)
        self.code = code


def client_socket(environ):
    """The connection's socket as the server (gunicorn, gevent's, werkzeug's) puts it in the WSGI environment, or None."""
    raw = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    if raw is None:
        # gevent's server (`webui`) names none: the request's body is read from it, through a wrapper when the
        # request has a body and straight from the connection's file when it has none (a WebSocket's upgrade).
        body = environ.get("wsgi.input")
        raw = getattr(getattr(getattr(body, "rfile", body), "raw", None), "_sock", None)
    return raw


def cut(raw):
    """End a connection from another thread: its reader sees the stream end and the socket's handler returns."""
    if raw is None:  # a server that hands the application no socket: nothing to cut
        return
    try:
        raw.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # its own thread closed it already


@dataclass
class OpenSocket:
    """One open WebSocket: whose it is and where from for the limits, the session it belongs to, and its connection."""

    owner: str
    address: str | None
    user: str | None
    token: str | None
    raw: object


class Sockets:
    """The open WebSockets, capped per owner, per address (for those of nobody signed in) and in total; those of
    signed-in users end with their session, those of nobody once signing in is required."""

    def __init__(self, per_owner, per_address, total, token_is_current, sign_in_required, app_context):
        """`token_is_current(user, token)`: whether a session still stands; `sign_in_required()`: whether sockets of
        nobody signed in must go (`webui user add` made an account); both asked within `app_context()`."""
        self.per_owner = per_owner
        self.per_address = per_address
        self.total = total
        self.token_is_current = token_is_current
        self.sign_in_required = sign_in_required
        self.app_context = app_context
        self._lock = threading.Lock()
        self._open = {}
        self._watcher = None

    def admit(self, owner, raw, address=None, user=None, token=None):
        """Hold a place for a socket and return its slot; SocketRefused when there is none. `address` is given for a
        socket of nobody signed in: any process there can take a new identity, so they share a looser cap."""
        with self._lock:
            if len(self._open) >= self.total:
                raise SocketRefused("busy")
            if sum(1 for s in self._open.values() if s.owner == owner) >= self.per_owner:
                raise SocketRefused("rate_limited")
            if address and sum(1 for s in self._open.values() if s.address == address) >= self.per_address:
                raise SocketRefused("rate_limited")
            slot = object()
            self._open[slot] = OpenSocket(owner, address, user, token, raw)
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, name="webui-socket-watcher", daemon=True)
                self._watcher.start()
            return slot

    def release(self, slot):
        """Forget a socket that has closed."""
        with self._lock:
            self._open.pop(slot, None)

    def close_user(self, user):
        """Cut every socket `user` holds; returns how many."""
        with self._lock:
            doomed = [s.raw for s in self._open.values() if s.user == user]
        for raw in doomed:
            cut(raw)
        return len(doomed)

    def _watch(self):
        """While sockets are open, cut those whose session ended (e.g. `webui user passwd`), and those of nobody signed
        in once signing in is required."""
        while True:
            time.sleep(CHECK_SECONDS)
            with self._lock:
                open_sockets = list(self._open.values())
                if not open_sockets:
                    self._watcher = None
                    return
            try:
                # One app context a round: its one connection to the accounts serves every check.
                with self.app_context():
                    # Asked once a round, and only while a socket of nobody signed in is open.
                    anonymous_may_stay = all(s.user for s in open_sockets) or not self.sign_in_required()
                    ended = [s for s in open_sockets
                             if not (self.token_is_current(s.user, s.token) if s.user else anonymous_may_stay)]
            except StorageError as e:  # the database is busy or away for now: keep the sockets, look again soon
                log.warning("cannot check the sessions of the open sockets: %s", e.cause)
                continue
            except Exception:  # a bug: keep the sockets, look again soon
                log.exception("cannot check the sessions of the open sockets")
                continue
            for s in ended:
                cut(s.raw)


def get_sockets():
    """The current app's open WebSockets."""
    return current_app.extensions["webui.sockets"]
