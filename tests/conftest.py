"""Fixtures: the app, its test client and CLI runner, and a real server on a loopback port."""
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from databases import database_url, postgres_cluster, pytest_configure, pytest_generate_tests  # noqa: F401 (fixtures, hooks)
from http_browser import Browser, handshake, raw_handshake
from live_server import DaemonThread, LiveServer, Socket, Visitor
from webui import create_app
from webui.providers.registry import DROPIN_PACKAGE

# What tests import from here: the helpers below, and those of live_server.py and http_browser.py, kept importable
# from conftest as they always were.
__all__ = ["Browser", "DaemonThread", "LiveServer", "ServerProcess", "Socket", "Visitor", "chat", "delta_seqs", "handshake",
           "raw_handshake", "turn"]

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
