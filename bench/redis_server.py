"""A real redis-server (Debian's) on a loopback port in a temp dir, which a test may stop and start again.

The tests use it through the `redis_server` fixture (tests/conftest.py), the benchmarks directly (bench/shared.py);
its `url` is what WEBUI_REDIS_URL takes.
"""
import shutil
import socket
import subprocess
import time
from pathlib import Path

START_SECONDS = 10


def free_port():
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """redis-server in `folder`, on the same port across a stop and a start, with no persistence: a restart is empty,
    as after a crash of a server that kept nothing on disk."""

    def __init__(self, folder):
        """Choose a port; not started yet."""
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        """Start it and wait until it answers PING."""
        binary = shutil.which("redis-server")
        assert binary, "this needs Debian's redis-server (scripts/test installs it)"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.ping():
                return self
            assert self.process.poll() is None, (self.folder / "redis.log").read_text(errors="replace")
            time.sleep(0.02)
        raise AssertionError(f"redis-server did not answer on port {self.port} within {START_SECONDS} s")

    def ping(self):
        """Whether it answers PING now (spoken in RESP over a plain socket, so this needs no client library)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        """Kill it (SIGKILL: what a crash or an operator's kill does) and wait for its end."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=START_SECONDS)
