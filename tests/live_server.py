"""The app served on a loopback port in a thread (LiveServer), its WebSocket clients (Socket), and one browser's
cookie jar at it (Visitor)."""
import json
import threading

from simple_websocket import Client, ConnectionClosed
from werkzeug.serving import make_server


# The WebSockets Browser.connect() opened, by address: the live server there closes them as it stops. Left open, a
# socket's handler and its place among the app's open sockets would outlive the test (with the app's watcher of
# signed-in sockets, which would go on reading a database the test has dropped).
BROWSER_SOCKETS = []


class LiveServer:
    """The app served by werkzeug's threaded server on 127.0.0.1, in a thread."""

    def __init__(self, app):
        """Bind to a free loopback port and start serving."""
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self.sockets = []
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def connect(self, headers=None):
        """Open a real WebSocket to /ws; it is closed when the server stops."""
        socket = Socket(Client.connect(self.ws_url, headers=headers, thread_class=DaemonThread))
        self.sockets.append(socket)
        return socket

    def stop(self):
        """Close the sockets the test left open, then stop serving."""
        browsers = [socket for url, socket in BROWSER_SOCKETS if url == self.ws_url]
        BROWSER_SOCKETS[:] = [(url, socket) for url, socket in BROWSER_SOCKETS if url != self.ws_url]
        for socket in self.sockets + browsers:
            socket.close()
        self.server.shutdown()
        self.server.server_close()


class DaemonThread(threading.Thread):
    """A client socket's reader thread that never keeps the test run from exiting."""

    def __init__(self, *args, **kwargs):
        """Start as a daemon."""
        super().__init__(*args, daemon=True, **kwargs)


class Socket:
    """A WebSocket client speaking JSON frames, with every wait bounded."""

    def __init__(self, ws):
        """Wrap a simple_websocket client."""
        self.ws = ws

    def send(self, frame):
        """Send a frame: a dict as JSON, anything else as it is."""
        self.ws.send(json.dumps(frame) if isinstance(frame, dict) else frame)

    def recv(self, timeout=10):
        """Receive one frame, failing the test if none comes in time."""
        data = self.ws.receive(timeout=timeout)
        assert data is not None, f"no frame within {timeout}s"
        return json.loads(data)

    def until_final(self, request_id, timeout=30):
        """Collect this request's frames up to and including done or error."""
        frames = []
        while True:
            frame = self.recv(timeout)
            if frame.get("request_id") == request_id:
                frames.append(frame)
                if frame["type"] in ("done", "error"):
                    return frames

    def close(self):
        """Close the socket, if it is still open."""
        try:
            self.ws.close()
        except ConnectionClosed:
            pass


class Visitor:
    """One browser at a LiveServer: its own cookie jar (a test client of the same app) and sockets that carry it."""

    def __init__(self, server):
        """Load the page once, which hands this browser its identity cookie."""
        self.server = server
        self.http = server.app.test_client()
        self.http.get("/")

    def connect(self):
        """Open a WebSocket with this browser's cookie."""
        token = self.http.get_cookie("webui_owner").value
        return self.server.connect(headers={"Cookie": f"webui_owner={token}"})
