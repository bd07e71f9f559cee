"""Start the servers under test the way a user would, on a free loopback port, and always kill them."""
import asyncio
import collections
import ctypes
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import PROVIDERS_DIR, ROOT, client

KINDS = ("dev", "gunicorn", "stub")
LABELS = {"dev": "webui", "gunicorn": "gunicorn gevent", "stub": "stub (load generator)"}
PATH_LABELS = {client.STORED: "stored conversation", client.MESSAGES: "plain messages"}
READY = re.compile(r"http://127\.0\.0\.1:(\d+)")
PR_SET_PDEATHSIG = 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """A running server process: its kind, port and process id."""

    kind: str
    port: int
    pid: int

    @property
    def url(self):
        """The page's address."""
        return f"http://127.0.0.1:{self.port}/"

    def rss_mb(self):
        """Resident memory of the process and its children (gunicorn's workers), in MB."""
        return sum(vm_rss_kb(pid) for pid in [self.pid, *child_pids(self.pid)]) / 1024

    def cpu_s(self):
        """CPU time (user + system) the process and its children have used so far, in seconds: their own work, which
        other load on the machine does not add to."""
        return sum(cpu_ticks(pid) for pid in [self.pid, *child_pids(self.pid)]) / CLOCK_TICKS


@dataclass(frozen=True)
class Variant:
    """One series of rows: a server of `kind` driven along `path` (client.STORED or client.MESSAGES)."""

    kind: str
    path: str

    @property
    def stub(self):
        """The stub stores nothing: its rows are the load generator's floor, whichever frame it answered."""
        return self.kind == "stub"

    @property
    def key(self):
        """The rows' key suffix: "gunicorn.stored", "dev.messages", …, or "stub"."""
        return self.kind if self.stub else f"{self.kind}.{self.path}"

    @property
    def label(self):
        """The rows' name suffix, for people."""
        return LABELS[self.kind] if self.stub else f"{LABELS[self.kind]} · {PATH_LABELS[self.path]}"

    @property
    def row_path(self):
        """The path a row measures, for the report's "path" field; None for the stub."""
        return None if self.stub else self.path


def variants(kind):
    """The series measured through a server of `kind`: the page's stored conversations (the headline), then plain
    messages; the stub once, with the page's frames."""
    return [Variant(kind, client.STORED)] if kind == "stub" else [Variant(kind, path) for path in client.PATHS]


def vm_rss_kb(pid):
    """VmRSS of one process in kB, 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pid):
    """utime + stime of one process (all its threads) in clock ticks, 0 if it is gone."""
    try:
        # The fields after the command name, which is in parentheses and may hold spaces: utime and stime are 14 and 15.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def child_pids(pid):
    """Direct children of a process, from every one of its threads."""
    pids = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            pids += [int(p) for p in children.read_text().split()]
        except OSError:
            pass
    return pids


def command(kind, args=()):
    """The command line that starts a server of `kind` on a free port, with `args` after it (`--workers 2`)."""
    python = sys.executable
    if kind == "dev":
        return [python, "-m", "webui", "--host", "127.0.0.1", "--port", "0"]
    if kind == "gunicorn":
        return [python, "-m", "webui", "--host", "127.0.0.1", "--port", "0", "serve", *args]
    if kind == "stub":
        return [python, "-m", "bench.stub"]
    raise ValueError(f"unknown server kind {kind!r}")


def die_with_parent():
    """In the child: get SIGTERM if the benchmark process dies, so no server outlives it."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Output:
    """The server's output, read in a thread from the start so the pipe never fills and no line is lost."""

    def __init__(self, stream):
        """Start reading `stream`."""
        self.lines = collections.deque(maxlen=40)
        self.port = None
        self.settled = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        """Keep the last lines; note the port the server announces; settle at the end of the output too."""
        for line in stream:
            self.lines.append(line.rstrip())
            found = READY.search(line)
            if found and self.port is None:
                self.port = int(found[1])
                self.settled.set()
        self.settled.set()

    def wait_for_port(self, timeout):
        """The announced port; an error with the output if the server exits or stays silent."""
        if not self.settled.wait(timeout) or self.port is None:
            self.thread.join(1)
            raise RuntimeError("the server did not start:\n" + "\n".join(self.lines))
        return self.port


async def wait_for_socket(port, timeout):
    """Wait until /ws accepts a WebSocket (gunicorn's worker loads the app after it listens)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            (await client.connect(port, timeout=2)).close()
            return
        except (OSError, asyncio.TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def stop(proc):
    """Terminate the server's process group, then kill it if it lingers."""
    for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def serve(kind, connections=None, env=None, timeout=60, args=()):
    """Run a server of `kind` ("dev", "gunicorn" or "stub") for the block; `connections` caps gunicorn's; `env`
    adds settings (WEBUI_DATA_DIR among them, for servers that share one) and `args` command-line options."""
    with tempfile.TemporaryDirectory(prefix="bench-data-") as data_dir:
        environ = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "WEBUI_PROVIDERS_DIR": str(PROVIDERS_DIR),
            "WEBUI_DATA_DIR": data_dir,
            # One load generator stands for many people: per-user limits would measure the limiter.
            "WEBUI_REQUESTS_PER_MINUTE": "100000000",
            "WEBUI_MAX_SOCKETS_PER_USER": "100000",
            "WEBUI_MAX_SOCKETS_PER_ADDRESS": "100000",
            # Figure 4's bursts are longer than an answer may be (WEBUI_MAX_ANSWER_CHARS).
            "WEBUI_MAX_ANSWER_CHARS": "1000000000",
            **({"WEBUI_CONNECTIONS": str(connections)} if connections else {}),
            **(env or {}),
        }
        proc = subprocess.Popen(
            command(kind, args), cwd=ROOT, env=environ, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True, preexec_fn=die_with_parent,
        )
        output = Output(proc.stdout)
        try:
            port = output.wait_for_port(timeout)
            asyncio.run(wait_for_socket(port, timeout))
            yield Server(kind, port, proc.pid)
        except Exception as e:
            e.add_note("server output:\n" + "\n".join(output.lines))
            raise
        finally:
            stop(proc)
            output.thread.join(5)
            proc.stdout.close()
