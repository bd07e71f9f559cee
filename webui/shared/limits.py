"""Limits counted across every worker and host through Redis: request windows, sign-in back-off, open sockets.

Each class here is its limits.py namesake when WEBUI_REDIS_URL is not set. With it, the counts live in Redis, kept by
Lua scripts that read Redis's own clock (hosts' clocks may differ) and change nothing unless the limit allows. While
Redis cannot be reached (see outage.py) every limit falls back to this process's own count, with its own memory of the
last minutes: a client may then get up to one allowance per worker, nobody is refused for Redis's sake, and no request
waits for Redis longer than one client timeout per RETRY_SECONDS. Keys hold a hash of the client's key (an address or
an owner), never the key itself.

Open sockets: each worker keeps its counts in a hash of its own, expiring with its lease (workers.py), which rewrites it
from the worker's own sockets at every renewal; a worker that dies takes its counts with it, and a Redis that lost
everything has them back within a renewal. The cap in total stays per process: it guards the worker's own connections.
"""
import hashlib
import uuid
from dataclasses import dataclass

from flask import current_app

from ..limits import Backoff, SocketRefused, Sockets, Window
from . import get_redis
from .outage import UNREACHED, get_outage
from .workers import SOCKETS_KEY, WORKERS

PREFIX = "webui:limit:"
# Redis's clock in milliseconds: whole numbers survive cjson and Lua exactly.
NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

WINDOW_HIT = NOW + """
local limit, span = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span)
if redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], span)
return 1
"""
WINDOW_WAIT = NOW + """
local limit, span = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span)
if redis.call('ZCARD', KEYS[1]) < limit then return 0 end
return math.max(0, tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]) + span - now)
"""
# One client's failures as JSON {times, strikes, till}, the same rules as limits.Backoff.attempt.
BACKOFF_ATTEMPT = NOW + """
local free, window, first, longest = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local raw = redis.call('GET', KEYS[1])
local s = raw and cjson.decode(raw) or {times = {}, strikes = 0, till = 0}
if s.till > now then return false end
if #s.times > 0 and now - s.times[#s.times] > longest then s = {times = {}, strikes = 0, till = 0} end
local times = {}
for _, t in ipairs(s.times) do if t > now - window then table.insert(times, t) end end
table.insert(times, now)
s.times = times
local before = s.till
if #times >= free then
  s.till = now + math.min(first * 2 ^ s.strikes, longest)
  s.strikes = s.strikes + 1
end
redis.call('SET', KEYS[1], cjson.encode(s), 'PX', longest + window)
return {now, before, s.till}
"""
BACKOFF_FORGIVE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local s = cjson.decode(raw)
local at, before, after = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local times, taken = {}, false
for _, t in ipairs(s.times) do
  if t == at and not taken then taken = true else table.insert(times, t) end
end
s.times = times
if after ~= before and s.till == after then
  s.till = before
  s.strikes = s.strikes - 1
end
redis.call('SET', KEYS[1], cjson.encode(s), 'KEEPTTL')
return 1
"""
BACKOFF_WAIT = NOW + """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
return math.max(0, cjson.decode(raw).till - now)
"""
# KEYS: this worker's socket counts, the set of workers; ARGV: the owner's field, the address's or '', the caps for
# each, the hash's lifetime in ms, and what goes before and after a worker's id in the name of its counts. The workers
# are read here, not from the last renewal, so that one that has just started counts at once; a dead one's counts
# expire with its lease.
SOCKET_ADMIT = """
local function open(field)
  local n = 0
  for _, worker in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    n = n + tonumber(redis.call('HGET', ARGV[6] .. worker .. ARGV[7], field) or 0)
  end
  return n
end
if open(ARGV[1]) >= tonumber(ARGV[3]) then return 0 end
if ARGV[2] ~= '' and open(ARGV[2]) >= tonumber(ARGV[4]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
if ARGV[2] ~= '' then redis.call('HINCRBY', KEYS[1], ARGV[2], 1) end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""


def hashed(kind, key):
    """A name for `key` (an owner, an address) that does not give it away."""
    return kind + ":" + hashlib.sha256(str(key).encode()).hexdigest()[:32]


def limit_key(name, key):
    """The Redis key of `key`'s count in the limit called `name`."""
    return PREFIX + name + ":" + hashed("key", key)


def shared_call(script, keys, args):
    """Run `script` in the current app's Redis (by its digest, loaded again after a restart of Redis), or UNREACHED
    without one, or while it cannot be reached."""
    client = get_redis()
    if client is None:
        return UNREACHED
    scripts = current_app.extensions.setdefault("webui.redis_scripts", {})
    registered = scripts.get(script) or scripts.setdefault(script, client.register_script(script))
    return get_outage().call(registered, keys, args)


class SharedWindow(Window):
    """Window, with its events counted in Redis under `name`."""

    def __init__(self, name, limit, seconds=60.0):
        """`name` tells this window's keys from other windows'."""
        super().__init__(limit, seconds)
        self.name = name

    def _call(self, script, key):
        """Run a window script for `key` (UNREACHED: count here)."""
        args = [self.limit, int(self.seconds * 1000)]
        if script is WINDOW_HIT:
            args.append(uuid.uuid4().hex)
        return shared_call(script, [limit_key(self.name, key)], args)

    def hit(self, key):
        """Count an event for `key`; False, and not counted, when the key is at its limit."""
        if not self.limit:
            return True
        allowed = self._call(WINDOW_HIT, key)
        return super().hit(key) if allowed is UNREACHED else bool(allowed)

    def wait(self, key):
        """Seconds until `key` may have another event (0: now)."""
        if not self.limit:
            return 0.0
        waited = self._call(WINDOW_WAIT, key)
        return super().wait(key) if waited is UNREACHED else waited / 1000


@dataclass(frozen=True)
class SharedAttempt:
    """A failed sign-in counted in Redis, as Backoff's Attempt (times in Redis's milliseconds)."""

    key: str
    at: int
    until_before: int
    until_after: int


class SharedBackoff(Backoff):
    """Backoff, with the failures counted in Redis under `name`."""

    def __init__(self, name, free=5, window=60.0, first_wait=30.0, longest=900.0):
        """`name` tells this back-off's keys from the others'."""
        super().__init__(free, window, first_wait, longest)
        self.name = name

    def _key(self, key):
        """The Redis key of a client."""
        return limit_key(self.name, key)

    def wait(self, key):
        """Seconds `key` must wait before it may try again (0: now)."""
        waited = shared_call(BACKOFF_WAIT, [self._key(key)], [])
        return super().wait(key) if waited is UNREACHED else waited / 1000

    def attempt(self, key):
        """As Backoff.attempt, counted in Redis."""
        args = [self.free, int(self.window * 1000), int(self.first_wait * 1000), int(self.longest * 1000)]
        counted = shared_call(BACKOFF_ATTEMPT, [self._key(key)], args)
        if counted is UNREACHED:
            return super().attempt(key)
        return None if counted is None else SharedAttempt(self._key(key), *counted)

    def forgive(self, attempt):
        """Take back an attempt that succeeded (counted here or in Redis)."""
        if not isinstance(attempt, SharedAttempt):
            return super().forgive(attempt)
        shared_call(BACKOFF_FORGIVE, [attempt.key], [attempt.at, attempt.until_before, attempt.until_after])


class SharedSockets(Sockets):
    """Sockets, with the caps per owner and per address counted across the live workers (see workers.py's Lease)."""

    def __init__(self, *args, **kwargs):
        """As Sockets; the slots whose socket Redis counts are remembered, to be taken off at their release."""
        super().__init__(*args, **kwargs)
        self._counted = set()

    def fields(self, socket):
        """The hash fields a socket counts under: its owner's and, for nobody signed in, its address's."""
        return [hashed("owner", socket.owner)] + ([hashed("address", socket.address)] if socket.address else [])

    def admit(self, owner, raw, address=None, user=None, token=None):
        """As Sockets.admit, then within the caps counted over every live worker (this one's alone while Redis
        cannot be reached or this process does not serve)."""
        slot = super().admit(owner, raw, address, user, token)
        lease = current_app.extensions.get("webui.lease")
        if lease is None:
            return slot
        owner_field, *address_field = self.fields(self._open[slot])
        keys = [lease.sockets_key(lease.id), WORKERS]
        args = [owner_field, (address_field or [""])[0], self.per_owner, self.per_address, lease.ttl_ms(), *SOCKETS_KEY]
        allowed = shared_call(SOCKET_ADMIT, keys, args)
        if allowed is UNREACHED:
            return slot
        if not allowed:
            super().release(slot)
            raise SocketRefused("rate_limited")
        with self._lock:
            self._counted.add(slot)
        return slot

    def release(self, slot):
        """Forget a socket that has closed, and take it off this worker's counts in Redis."""
        with self._lock:
            socket = self._open.get(slot)
            counted = slot in self._counted
            self._counted.discard(slot)
        super().release(slot)
        lease = current_app.extensions.get("webui.lease")
        client = get_redis()
        if counted and socket is not None and lease is not None and client is not None:
            get_outage().call(self._take_off, client, lease.sockets_key(lease.id), self.fields(socket))

    def _take_off(self, client, key, fields):
        """Count a socket less in this worker's hash `key`, under each of `fields` in one transaction."""
        with client.pipeline() as pipe:
            for field in fields:
                pipe.hincrby(key, field, -1)
            pipe.execute()

    def counts(self):
        """This worker's counts as a hash, which the lease writes over its hash at each renewal, and the slots they
        count (for `written`). A socket admitted or released while the renewal is on its way is miscounted by one
        until the next renewal."""
        totals = {}
        with self._lock:
            for socket in self._open.values():
                for field in self.fields(socket):
                    totals[field] = totals.get(field, 0) + 1
            return totals, set(self._open)

    def written(self, slots):
        """The counts of `slots` are in Redis now, as are those admitted through Redis meanwhile: their release takes
        them off."""
        with self._lock:
            self._counted = (self._counted | slots) & set(self._open)
