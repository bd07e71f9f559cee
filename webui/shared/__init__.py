"""State that several workers and hosts share through Redis (WEBUI_REDIS_URL); without it, each process keeps its own.

`get_redis()` is the app's client, or None when WEBUI_REDIS_URL is not set: every caller keeps today's in-process way
then. A client that cannot reach Redis raises redis.RedisError on use; callers turn that into a clear error for the
one request that needed Redis, never into a crash, and the next use tries again (the client reconnects by itself).
"""
import redis
from flask import current_app

# A command to Redis waits this long for an answer: a Redis that hangs fails the caller, it does not hold it.
COMMAND_SECONDS = 2.0


def init_app(app):
    """Make the app's client from WEBUI_REDIS_URL (connecting only at first use), or none."""
    url = app.config.get("WEBUI_REDIS_URL")
    app.extensions["webui.redis"] = (
        redis.Redis.from_url(url, socket_timeout=COMMAND_SECONDS, socket_connect_timeout=COMMAND_SECONDS, health_check_interval=10)
        if url
        else None
    )


def get_redis(app=None):
    """The client of `app` (the current app by default), or None if this server shares nothing."""
    return (app or current_app).extensions["webui.redis"]
