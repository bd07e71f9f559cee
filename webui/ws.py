"""The /ws endpoint: a thin loop that hands each frame to a bridge.Connection."""
import json
import threading

from flask import current_app
from flask_babel import get_locale
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from .bridge import Connection
from .registry import get_registry

sock = Sock()


def frame_sender(ws):
    """Return send(frame) -> bool that serializes writes from the streaming threads."""
    lock = threading.Lock()

    def send(frame):
        """Write one JSON frame; False once the socket is closed."""
        data = json.dumps(frame, ensure_ascii=False)
        with lock:
            try:
                ws.send(data)
            except (ConnectionClosed, OSError):
                return False
        return True

    return send


@sock.route("/ws")
def chat_socket(ws):
    """Serve one WebSocket until the client goes away."""
    connection = Connection(current_app._get_current_object(), get_registry(), frame_sender(ws), str(get_locale()))
    try:
        while True:
            connection.handle(ws.receive())
    finally:
        connection.close()


def init_app(app):
    """Apply the frame size limit and keep-alive pings, and mount /ws."""
    app.config.setdefault(
        "SOCK_SERVER_OPTIONS",
        {"max_message_size": app.config["WEBUI_MAX_FRAME_BYTES"], "ping_interval": app.config["WEBUI_PING_INTERVAL"] or None},
    )
    sock.init_app(app)
