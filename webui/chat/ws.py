"""The /ws endpoint: a thin loop that hands each frame to a connection.Connection, and the socket's writer wired in."""
import socket

from flask import current_app
from flask_babel import get_locale
from flask_sock import Sock
from wsproto.events import TextMessage
from wsproto.utilities import LocalProtocolError

from ..access.identity import current_owner
from ..providers.registry import get_registry
from ..serving.shutdown import get_shutdown
from .connection import Connection
from .runner import get_runner
from .stored_answers import get_stored_answers
from .writer import Writer

sock = Sock()


class OrderedSocket:
    """The socket as the WebSocket library sees it: its own writes queue behind ours instead of cutting in."""

    def __init__(self, raw, writer):
        """Wrap `raw`, whose writes go through `writer`."""
        self._raw = raw
        self._writer = writer

    def send(self, data):
        """Queue the library's bytes after ours; report them all taken, as a blocking send would."""
        self._writer.put_bytes(data)
        return len(data)

    def __getattr__(self, name):
        """Everything else (recv, fileno, close) is the socket's own."""
        return getattr(self._raw, name)


def open_writer(ws):
    """The writer of a flask-sock WebSocket, wired so every write to its socket, the library's too, goes through it."""
    raw = ws.sock

    def encode(text):
        """One text message in the connection's framing (and compression, if the browser asked for it)."""
        try:
            return ws.ws.send(TextMessage(data=text))
        except LocalProtocolError as e:
            raise ConnectionError("the WebSocket is closing") from e

    config = current_app.config
    writer = Writer(
        raw,
        encode,
        current_app.extensions["webui.pacer"],
        config["WEBUI_SEND_TIMEOUT_SECONDS"],
        config["WEBUI_MAX_QUEUED_BYTES"],
    )
    ws.sock = OrderedSocket(raw, writer)
    return writer


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


def init_app(app):
    """Apply the frame size limit and keep-alive pings, and mount /ws."""
    app.config.setdefault(
        "SOCK_SERVER_OPTIONS",
        {
            "max_message_size": app.config["WEBUI_MAX_FRAME_BYTES"],
            "ping_interval": app.config["WEBUI_PING_INTERVAL"] or None,
        },
    )
    sock.init_app(app)
