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
from .outage import RETRY_SECONDS, get_outage

log = logging.getLogger(__name__)

CHANNEL = "webui:signouts"
# How long the listener waits for a message before it looks again.
POLL_SECONDS = 1.0


def publish(name):
    """Ask every worker to close the sockets of user `name` (nothing while Redis cannot be reached: see outage.py)."""
    get_outage().call(get_redis().publish, CHANNEL, name)


class Listener:
    """The thread that closes the sockets named on CHANNEL, subscribing again RETRY_SECONDS after a failure."""

    def __init__(self, client, sockets, outage):
        """Listen with `client`; close with `sockets` (limits.Sockets); report to `outage` what Redis does."""
        self.client = client
        self.sockets = sockets
        self.outage = outage
        self.thread = threading.Thread(target=self._run, name="webui-signouts", daemon=True)

    def _run(self):
        """Listen for the rest of the process."""
        while True:
            try:
                self._listen()
            except redis.RedisError as e:
                self.outage.failed(e)
            except Exception:
                log.exception("the sign-out listener failed; it starts again")
            time.sleep(RETRY_SECONDS)

    def _listen(self):
        """Close the sockets of each name that comes, until the connection fails."""
        with self.client.pubsub(ignore_subscribe_messages=True) as pubsub:
            pubsub.subscribe(CHANNEL)
            self.outage.answered()
            while True:
                message = pubsub.get_message(timeout=POLL_SECONDS)
                if message is not None and message["type"] == "message":
                    self.sockets.close_user(message["data"].decode(errors="replace"))


def start(app):
    """Listen in the serving process (see serving.start_serving)."""
    listener = Listener(get_redis(app), app.extensions["webui.sockets"], get_outage(app))
    listener.thread.start()
    return listener
