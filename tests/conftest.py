"""Fixtures: the app, its test client and CLI runner, and a real server on a loopback port."""
import json
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from simple_websocket import Client, ConnectionClosed
from werkzeug.serving import make_server

from databases import database_url, postgres_cluster, pytest_configure, pytest_generate_tests  # noqa: F401 (fixtures, hooks)
from webui import create_app
from webui.providers.registry import DROPIN_PACKAGE

DROPINS = Path(__file__).parent / "dropins"


@pytest.fixture
def providers_dir(tmp_path):
    """A fresh copy of the test provider modules, so a test may add its own."""
    folder = tmp_path / "providers"
    shutil.copytree(DROPINS, folder)
    return folder


@pytest.fixture
def app_config(tmp_path, providers_dir, database_url):
    """Settings for a test app; tests may change them before `app` is built."""
    return {
        "TESTING": True,
        "WEBUI_DATA_DIR": str(tmp_path / "data"),
        "WEBUI_DATABASE_URL": database_url,
        "WEBUI_PROVIDERS_DIR": str(providers_dir),
        "WEBUI_PING_INTERVAL": 0,
        # The testing module would answer a title request too, as a second call and a new title that tests of
        # everything else do not expect: tests of titles turn them on.
        "WEBUI_TITLES": False,
    }


@pytest.fixture
def app(app_config):
    """The application under test."""
    return create_app(app_config)


@pytest.fixture
def client(app):
    """A test client for plain HTTP requests."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A runner for the app's CLI commands."""
    return app.test_cli_runner()


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


@pytest.fixture
def server(app):
    """A running server for the app."""
    live = LiveServer(app)
    yield live
    live.stop()


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on a loopback port for this test, stopped at its end (see bench/redis_server.py)."""
    from bench.redis_server import RedisServer

    instance = RedisServer(tmp_path / "redis").start()
    yield instance
    instance.stop()


@pytest.fixture
def testing_provider():
    """The loaded `testing` drop-in module, to look at what the provider saw."""

    def get():
        """Return the module as currently loaded."""
        return sys.modules[f"{DROPIN_PACKAGE}.testing"]

    return get


def chat(request_id, text="hello", provider="testing", model="echo", **extra):
    """A chat frame with one user message."""
    return {
        "type": "chat",
        "request_id": request_id,
        "provider": provider,
        "model": model,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


class ServerProcess:
    """A `webui` server started as a command; waits for the line that gives its URL."""

    def __init__(self, command, cwd=None, env=None, timeout=60):
        """Start the command and wait (bounded) for `webui is running: open URL`."""
        self.lines = queue.Queue()
        self.output = []
        self.process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._wait_for_url(timeout)

    def _read(self):
        """Forward the process's output lines to the queue."""
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _wait_for_url(self, timeout):
        """Return the URL the server printed, or fail with what it printed instead."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.output.append(line)
            match = re.search(r"webui is running: open (\S+)", line)
            if match:
                return match.group(1).rstrip("/")
        self.stop()
        raise AssertionError("the server did not start:\n" + "".join(self.output))

    def stop(self):
        """Terminate the server and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


# The browser tests' fixtures (Playwright driving Debian's Chromium) live in tests/browser.py.
from browser import browser_context, chromium, page, page_errors  # noqa: E402,F401


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


@pytest.fixture
def visitor(server):
    """A browser at the live server; answers it leaves streaming are stopped when the test ends."""
    yield Visitor(server)
    with server.app.app_context():
        for stream in server.app.extensions["webui.stored_answers"].running(lambda turn: True):
            stream.finish("stopped")


def delta_seqs(frames):
    """The seqs of the delta frames, which must rise strictly: a frame may carry several chunks, seq is its last."""
    seqs = [f["seq"] for f in frames if f["type"] == "delta"]
    assert all(a < b for a, b in zip(seqs, seqs[1:])), seqs
    return seqs


def turn(request_id, conversation_id=None, model="echo", **fields):
    """A chat frame for a stored conversation: `content`, or an `action` with its `message_id`."""
    return {"type": "chat", "request_id": request_id, "conversation_id": conversation_id, "provider": "testing", "model": model, **fields}


# Security tests: a browser over real HTTP, and WebSocket handshakes with headers of the test's choosing.
import base64  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import requests  # noqa: E402


class Browser:
    """Someone at a server over real HTTP: keeps cookies, and sends Origin and the page's CSRF token as a browser does."""

    def __init__(self, url):
        """Start with no cookies, at the server whose base URL is `url`."""
        self.url = url
        self.http = requests.Session()
        self.http.headers["Origin"] = url

    def get(self, path, **kwargs):
        """GET without following redirects."""
        return self.http.get(self.url + path, allow_redirects=False, timeout=10, **kwargs)

    def post(self, path, **kwargs):
        """POST carrying the chat page's CSRF token."""
        headers = {"X-CSRF-Token": self.csrf_token(), **kwargs.pop("headers", {})}
        return self.http.post(self.url + path, allow_redirects=False, timeout=10, headers=headers, **kwargs)

    def csrf_token(self):
        """The token in the chat page's meta tag."""
        return re.search(r'name="csrf-token" content="([^"]+)"', self.get("/").text)[1]

    def login(self, name, password):
        """Fill in and send the sign-in form."""
        token = re.search(r'name="csrf_token" value="([^"]+)"', self.get("/login").text)[1]
        form = {"csrf_token": token, "username": name, "password": password}
        return self.http.post(self.url + "/login", data=form, allow_redirects=False, timeout=10)

    def cookie_header(self):
        """The Cookie header this browser sends."""
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.http.cookies)

    def connect(self):
        """Open a WebSocket with this browser's cookies (simple_websocket's Host has no port, so no Origin is sent)."""
        ws_url = self.url.replace("http", "ws", 1) + "/ws"
        socket = Socket(Client.connect(ws_url, headers={"Cookie": self.cookie_header()}, thread_class=DaemonThread))
        BROWSER_SOCKETS.append((ws_url, socket))
        return socket


def raw_handshake(url, headers=None, path="/ws"):
    """Send a WebSocket handshake with these headers over a plain socket: (status, the socket, for the caller to close)."""
    parts = urlsplit(url)
    headers = {
        "Host": parts.netloc,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
        **(headers or {}),
    }
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall((f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        chunk = sock.recv(1)
        if not chunk:
            break
        head += chunk
    return int(head.split()[1]), sock


def handshake(url, headers=None):
    """The status a WebSocket handshake with these headers gets (101: accepted); the socket is closed."""
    status, sock = raw_handshake(url, headers)
    sock.close()
    return status
