"""Sign-outs on every worker: a user's name published in Redis closes their open sockets in every serving process.

A message carries the user's name and nothing else. It is only the fast way: every worker also checks its sockets'
sessions in the database every few seconds (limits.Sockets), which ends them after a sign-out, a new password or a
deletion even when the message was lost (Redis down, a worker reconnecting). A demotion changes no session, so only the
message closes the sockets of a demoted user; their admin rights end at once anyway, since roles are read afresh.
"""
import logging
import threading
import time

import redis

from . import get_redis

log = logging.getLogger(__name__)

CHANNEL = "webui:signouts"
# How long the listener waits for a message before it looks again, and the waits between its reconnections.
POLL_SECONDS = 1.0
FIRST_RETRY_SECONDS = 0.5
LAST_RETRY_SECONDS = 5.0


def publish(name):
    """Ask every worker to close the sockets of user `name` (logged when Redis is down)."""
    try:
        get_redis().publish(CHANNEL, name)
    except redis.RedisError as e:
        log.warning("could not tell the other workers to close the sockets of a user (%s); their session check will", e)


class Listener:
    """The thread that closes the sockets named on CHANNEL, reconnecting with a growing pause while Redis is down."""

    def __init__(self, client, sockets):
        """Listen with `client`; close with `sockets` (limits.Sockets)."""
        self.client = client
        self.sockets = sockets
        self.thread = threading.Thread(target=self._run, name="webui-signouts", daemon=True)
        self.pause = FIRST_RETRY_SECONDS

    def _run(self):
        """Listen for the rest of the process."""
        while True:
            try:
                self._listen()
            except redis.RedisError as e:
                log.warning("sign-outs from other workers wait for Redis (%s)", e)
            except Exception:
                log.exception("the sign-out listener failed; it starts again")
            time.sleep(self.pause)
            self.pause = min(self.pause * 2, LAST_RETRY_SECONDS)

    def _listen(self):
        """Close the sockets of each name that comes, until the connection fails."""
        with self.client.pubsub(ignore_subscribe_messages=True) as pubsub:
            pubsub.subscribe(CHANNEL)
            self.pause = FIRST_RETRY_SECONDS
            while True:
                message = pubsub.get_message(timeout=POLL_SECONDS)
                if message is not None and message["type"] == "message":
                    self.sockets.close_user(message["data"].decode(errors="replace"))


def start(app):
    """Listen in the serving process (see serving.start_serving)."""
    listener = Listener(get_redis(app), app.extensions["webui.sockets"])
    listener.thread.start()
    return listener
