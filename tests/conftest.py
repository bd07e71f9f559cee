"""Fixtures: the app, its test client and CLI runner, and a real server on a loopback port."""
import json
import shutil
import sys
import threading
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
