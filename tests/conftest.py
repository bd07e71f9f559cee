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
from simple_websocket import Client
from werkzeug.serving import make_server

from webui import create_app
from webui.registry import DROPIN_PACKAGE

DROPINS = Path(__file__).parent / "dropins"


@pytest.fixture
def providers_dir(tmp_path):
    """A fresh copy of the test provider modules, so a test may add its own."""
    folder = tmp_path / "providers"
    shutil.copytree(DROPINS, folder)
    return folder


@pytest.fixture
def app_config(tmp_path, providers_dir):
    """Settings for a test app; tests may change them before `app` is built."""
    return {
        "TESTING": True,
        "WEBUI_DATA_DIR": str(tmp_path / "data"),
        "WEBUI_PROVIDERS_DIR": str(providers_dir),
        "WEBUI_PING_INTERVAL": 0,
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


class LiveServer:
    """The app served by werkzeug's threaded server on 127.0.0.1, in a thread."""

    def __init__(self, app):
        """Bind to a free loopback port and start serving."""
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def connect(self, headers=None):
        """Open a real WebSocket to /ws."""
        return Socket(Client.connect(self.ws_url, headers=headers))

    def stop(self):
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


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
        """Close the socket."""
        self.ws.close()


@pytest.fixture
def server(app):
    """A running server for the app."""
    live = LiveServer(app)
    yield live
    live.stop()


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
