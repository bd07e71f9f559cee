"""State that several workers and hosts share through Redis (WEBUI_REDIS_URL); without it, each process keeps its own.

`get_redis()` is the app's client, or None when WEBUI_REDIS_URL is not set: every caller keeps today's in-process way
then. A client that cannot reach Redis raises redis.RedisError on use; callers turn that into a clear error for the
one request that needed Redis, never into a crash, and the next use tries again (the client reconnects by itself).

This module is all that a server without WEBUI_REDIS_URL loads of the package: the package's other modules, and
redis-py with what it imports (megabytes in every process), are imported only where a server that shares uses them.
So the limits are made here, in this process's kind (access/limits.py) or, with Redis, in the kind that counts in Redis
(shared/limits.py); the other choosing places are serving/lock.py, chat/stored_answers.py and chat/connection.py.
"""
from flask import current_app

from ..access.limits import Backoffs, Sockets, Window

# A command to Redis waits this long for an answer: a Redis that hangs fails the caller, it does not hold it.
COMMAND_SECONDS = 2.0


def init_app(app):
    """Make the app's client from WEBUI_REDIS_URL (connecting only at first use), or none."""
    url = app.config.get("WEBUI_REDIS_URL")
    if not url:
        app.extensions["webui.redis"] = None
        return
    import redis

    app.extensions["webui.redis"] = redis.Redis.from_url(
        url, socket_timeout=COMMAND_SECONDS, socket_connect_timeout=COMMAND_SECONDS, health_check_interval=10
    )


def get_redis(app=None):
    """The client of `app` (the current app by default), or None if this server shares nothing."""
    return (app or current_app).extensions["webui.redis"]


def make_window(app, name, limit):
    """A limits.Window of `limit` events a minute, counted by every worker under `name` if `app` shares."""
    if get_redis(app) is None:
        return Window(limit)
    from .limits import SharedWindow

    return SharedWindow(name, limit)


def make_backoffs(app, *named):
    """limits.Backoffs of `named` (name, limits.Backoff) pairs, each counted by every worker under its name if `app`
    shares."""
    if get_redis(app) is None:
        return Backoffs(*(backoff for _name, backoff in named))
    from .limits import SharedBackoffs

    return SharedBackoffs(*named)


def make_sockets(app, *caps):
    """A limits.Sockets of `caps`, counted by every worker that holds a lease (see workers.py) if `app` shares."""
    if get_redis(app) is None:
        return Sockets(*caps)
    from .limits import SharedSockets

    return SharedSockets(*caps)


def publish_signout(name):
    """Close the sockets of user `name` in every worker at once, if this server shares (see signouts.py); without
    Redis this process's own session check closes them within seconds."""
    if get_redis() is not None:
        from .signouts import publish

        publish(name)
