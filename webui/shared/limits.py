"""Limits counted across every worker and host through Redis: request windows, sign-in back-off, open sockets.

Each class here stands for its namesake in access/limits.py when WEBUI_REDIS_URL is set: the counts live in Redis, kept
by Lua scripts that read Redis's own clock (hosts' clocks may differ) and change nothing unless the limit allows. While
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

from ..access.limits import BackedOff, Backoffs, SocketRefused, Sockets, Window
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
# KEYS: one client's key in each back-off; ARGV: each back-off's free, window, first wait and longest (ms), four by
# four. A client's failures are JSON {times, strikes, till}, under the rules of limits.Backoff.attempt. All of them are
# counted, {1, now, then each one's wait's end before and after}, or, while one must wait, none: {0, each one's wait}.
BACKOFF_ATTEMPT = NOW + """
local states, waits, waiting = {}, {}, false
for i, key in ipairs(KEYS) do
  local raw = redis.call('GET', key)
  states[i] = raw and cjson.decode(raw) or {times = {}, strikes = 0, till = 0}
  waits[i] = math.max(0, states[i].till - now)
  waiting = waiting or waits[i] > 0
end
if waiting then return {0, unpack(waits)} end
local counted = {1, now}
for i, key in ipairs(KEYS) do
  local free, window = tonumber(ARGV[4 * i - 3]), tonumber(ARGV[4 * i - 2])
  local first, longest = tonumber(ARGV[4 * i - 1]), tonumber(ARGV[4 * i])
  local s = states[i]
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
  redis.call('SET', key, cjson.encode(s), 'PX', longest + window)
  table.insert(counted, before)
  table.insert(counted, s.till)
end
return counted
"""
# KEYS: as the attempt's; ARGV: its time, then each back-off's wait's end before and after it, two by two.
BACKOFF_FORGIVE = """
local at = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local raw = redis.call('GET', key)
  if raw then
    local s = cjson.decode(raw)
    local before, after = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
    local times, taken = {}, false
    for _, t in ipairs(s.times) do
      if t == at and not taken then taken = true else table.insert(times, t) end
    end
    s.times = times
    if after ~= before and s.till == after then
      s.till = before
      s.strikes = s.strikes - 1
    end
    redis.call('SET', key, cjson.encode(s), 'KEEPTTL')
  end
end
return 1
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
    """An attempt counted in Redis, as Backoffs' Attempts: the keys, its time and each key's wait's end before and
    after it, in Redis's milliseconds."""

    keys: list
    at: int
    untils: list


class SharedBackoffs(Backoffs):
    """Backoffs, with the failures counted in Redis, each back-off's under its name: an attempt is one round trip,
    counted or refused."""

    def __init__(self, *named):
        """`named`: (name, Backoff) pairs; a name tells that back-off's keys from the others'."""
        super().__init__(*(backoff for _name, backoff in named))
        self.names = [name for name, _backoff in named]

    def attempt(self, keys):
        """As Backoffs.attempt, counted in Redis."""
        redis_keys = [limit_key(name, key) for name, key in zip(self.names, keys)]
        args = []
        for b in self.backoffs:
            args += [b.free, int(b.window * 1000), int(b.first_wait * 1000), int(b.longest * 1000)]
        counted = shared_call(BACKOFF_ATTEMPT, redis_keys, args)
        if counted is UNREACHED:
            return super().attempt(keys)
        if not counted[0]:
            raise BackedOff([wait / 1000 for wait in counted[1:]])
        return SharedAttempt(redis_keys, counted[1], counted[2:])

    def forgive(self, attempts):
        """Take back an attempt that succeeded (counted here or in Redis)."""
        if not isinstance(attempts, SharedAttempt):
            return super().forgive(attempts)
        shared_call(BACKOFF_FORGIVE, attempts.keys, [attempts.at, *attempts.untils])


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
