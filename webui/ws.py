"""The /ws endpoint: a thin loop that hands each frame to a connection.Connection."""
import socket
import threading

from flask import current_app
from flask_babel import get_locale
from flask_sock import Sock

from .connection import Connection
from .identity import current_owner
from .stored_answers import get_stored_answers
from .registry import get_registry
from .runner import get_runner
from .shutdown import get_shutdown
from .writer import open_writer

sock = Sock()


@sock.route("/ws")
def chat_socket(ws):
    """Serve one WebSocket until the client goes away."""
    # Frames are small and must leave at once: Nagle's algorithm would hold a delta behind the
    # start frame until the client's delayed ACK, about 40 ms (measured in bench figure 2).
    ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connection = Connection(
        current_app._get_current_object(),
        get_registry(),
        open_writer(ws),
        str(get_locale()),
        current_owner(),
        get_stored_answers(),
        get_runner(),
    )
    shutdown = get_shutdown()
    shutdown.add(ws, connection)
    try:
        while True:
            connection.handle(ws.receive())
    finally:
        connection.close()
        shutdown.discard(connection)


def reader_thread(*args, **kwargs):
    """A socket's reader thread (the WebSocket library's), which never keeps the process from exiting: a stop closes
    the sockets itself (shutdown.py). `threading.Thread` is looked up at each call, so under gevent it is a greenlet."""
    return threading.Thread(*args, daemon=True, **kwargs)


def init_app(app):
    """Apply the frame size limit and keep-alive pings, and mount /ws."""
    app.config.setdefault(
        "SOCK_SERVER_OPTIONS",
        {
            "max_message_size": app.config["WEBUI_MAX_FRAME_BYTES"],
            "ping_interval": app.config["WEBUI_PING_INTERVAL"] or None,
            "thread_class": reader_thread,
        },
    )
    sock.init_app(app)
