"""Stopping without losing an answer: a grace period for the running answers, then their end and the sockets' close.

The answers still running get a grace period to end; then each is stored as `interrupted` and its page told so, and
every socket is closed with 1012 (service restart) after its last frame, so pages reconnect to the next process and
resume there.

`webui serve` drains on SIGTERM (production.Worker), and at once on SIGINT and SIGQUIT; `webui` on SIGTERM, and at once
on Ctrl-C (commands/cli.py, serve).
"""
import threading
import time

from flask import current_app
from flask_babel import gettext as _
from wsproto.events import CloseConnection
from wsproto.utilities import LocalProtocolError

from ..access.limits import cut
from ..errors import UserError
from .stopping import CLOSE_SECONDS

# The WebSocket close code that tells a client the server is restarting, and to come back.
SERVICE_RESTART = 1012
# How often a draining server looks whether answers are still running, and sockets still open.
POLL_SECONDS = 0.1


def close_frame(ws):
    """What makes `ws`'s close frame (1012) when its turn comes in its writer (see writer.Writer.end)."""

    def make():
        """The frame's bytes; none if the client closed first (its close has been answered)."""
        try:
            return ws.ws.send(CloseConnection(SERVICE_RESTART, "the server is restarting"))
        except LocalProtocolError:
            return b""

    return make


class Shutdown:
    """The open WebSockets with their connections, and the drain that stops serving them."""

    def __init__(self, app):
        """Nothing open; not stopping."""
        self.app = app
        self.stopping = False
        self._lock = threading.Lock()
        self._open = {}
        # Other answers to wait for and interrupt: functions that list them (the /v1 API's).
        self._sources = []
        self._deadline = float("inf")
        self._drained = threading.Event()

    def add(self, ws, connection):
        """List a socket that has opened, with its connection.Connection."""
        with self._lock:
            self._open[connection] = ws

    def discard(self, connection):
        """Forget a socket that has closed."""
        with self._lock:
            self._open.pop(connection, None)

    def add_source(self, answers):
        """Count the answers `answers()` lists among those a drain waits for, then interrupts."""
        self._sources.append(answers)

    def refuse_new_answers(self):
        """Raise the error a chat request gets while the server stops."""
        if self.stopping:
            raise UserError(_("The server is restarting: send this again in a moment."), code="shutting_down")

    def running(self):
        """The answers still running: the stored ones, followed or not, those of the open sockets and the API's."""
        with self._lock:
            connections = list(self._open)
        answers = {id(answer): answer for answer in self.app.extensions["webui.stored_answers"].running(lambda turn: True)}
        for connection in connections:
            answers.update((id(answer), answer) for answer in connection.running())
        for source in self._sources:
            answers.update((id(answer), answer) for answer in source() if not answer.settled.is_set())
        return list(answers.values())

    def drain(self, grace):
        """Refuse new answers, give the running ones up to `grace` seconds, end the rest as interrupted, close every
        socket with 1012 and cut those that do not close. A drain under way is shortened to `grace`, and waited for."""
        with self._lock:
            self._deadline = min(self._deadline, time.monotonic() + grace)
            underway, self.stopping = self.stopping, True
        if underway:
            self._drained.wait(grace + CLOSE_SECONDS + 1)
            return
        try:
            while self.running() and time.monotonic() < self._deadline:
                time.sleep(POLL_SECONDS)
            self._interrupt()
            self._close_sockets()
        finally:
            # A quick drain waits for this one (see above), however it ends.
            self._drained.set()

    def _interrupt(self):
        """End every answer still running as interrupted; a stored one is written so before its page hears it."""
        with self.app.app_context():
            for answer in self.running():
                answer.finish("interrupted")

    def _close_sockets(self):
        """Close every socket with 1012 after its last frame; cut those whose client has not closed in time."""
        with self._lock:
            sockets = list(self._open.items())
        for connection, ws in sockets:
            connection.writer.end(close_frame(ws))
        closing = time.monotonic() + CLOSE_SECONDS
        while self._open and time.monotonic() < closing:
            time.sleep(POLL_SECONDS)
        with self._lock:
            left = list(self._open.values())
        for ws in left:
            cut(ws.sock)


def init_app(app):
    """Give the app its list of open sockets."""
    app.extensions["webui.shutdown"] = Shutdown(app)


def get_shutdown():
    """The current app's list of open sockets and its drain."""
    return current_app.extensions["webui.shutdown"]
