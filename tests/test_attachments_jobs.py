"""Reading images and PDFs in child processes: under `webui serve` (gunicorn and gevent) a slow file holds up nobody
else and is killed at its time limit, a child that fails is told apart from a file that does, and a server that starts
sweeps the uploads never sent; readings kept for bytes sent again stay within their bound."""
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from attachment_files import image_bytes, slow_pdf, stored, upload
from conftest import Browser, ServerProcess
from test_cli import server_command
from webui import create_app
from webui.attachments import jobs
from webui.attachments.jobs import Reading
from webui.attachments.recent import Recent

SECONDS = 3


def parent_of(pid):
    """The parent process id of `pid`, or None once it is gone."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def workers_under(ancestor):
    """The attachment workers running below the process `ancestor`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            running = str(jobs.WORKER).encode() in (entry / "cmdline").read_bytes()
        except OSError:
            continue
        pid, steps = int(entry.name), 0
        while running and pid not in (None, 0, 1) and steps < 10:
            pid, steps = parent_of(pid), steps + 1
            if pid == ancestor:
                found.append(int(entry.name))
                break
    return found


def wait_for(condition, seconds):
    """Poll `condition` until it holds or `seconds` pass; whether it held."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_slow_pdf_holds_up_no_one_and_is_killed_at_its_time_limit(tmp_path, providers_dir):
    command, env = server_command(tmp_path / "data", providers_dir, "serve", WEBUI_ATTACHMENT_SECONDS=str(SECONDS), LANG="C")
    server = ServerProcess(command, env=env)
    try:
        slow, other = Browser(server.url), Browser(server.url)
        other.get("/")
        outcome = {}
        uploading = threading.Thread(
            target=lambda: outcome.update(response=upload(slow, slow_pdf(), "slow.pdf", "application/pdf")), daemon=True
        )
        uploading.start()
        assert wait_for(lambda: workers_under(server.process.pid), 10), "the PDF's worker never started"
        # While the worker reads, another person's requests are answered, upload and all.
        assert other.get("/api/conversations").status_code == 200
        quick = upload(other, image_bytes("PNG"), "quick.png", "image/png")
        assert quick.status_code == 201, quick.text
        assert workers_under(server.process.pid), "the slow worker was still running meanwhile"
        uploading.join(SECONDS + 30)
        response = outcome["response"]
        assert response.status_code == 422 and response.json()["error"]["code"] == "bad_attachment"
        assert f"longer than {SECONDS} seconds" in response.json()["error"]["message"]
        assert wait_for(lambda: not workers_under(server.process.pid), 5), "the worker outlived its time limit"
    finally:
        server.stop()


def test_a_server_that_starts_sweeps_the_uploads_never_sent(tmp_path, providers_dir, app_config):
    app = create_app({**app_config, "WEBUI_DATA_DIR": str(tmp_path / "data")})
    client = app.test_client()
    client.get("/")
    for name in ("old.txt", "new.txt"):
        assert upload(client, name.encode(), name, "text/plain").status_code == 201
    db = sqlite3.connect(app.extensions["webui.database"])
    with db:
        db.execute("UPDATE attachments SET created_at = created_at - 2 * 24 * 3600 WHERE name = 'old.txt'")
    db.close()
    command, env = server_command(tmp_path / "data", providers_dir, LANG="C")
    server = ServerProcess(command, env=env)
    try:
        assert wait_for(lambda: [row[3] for row in stored(app)[0]] == ["new.txt"], 10), stored(app)
        assert len(stored(app)[2]) == 1
    finally:
        server.stop()


def test_a_worker_that_cannot_start_is_the_servers_fault_one_a_file_crashed_is_the_files():
    # Python's own exit after an uncaught error (Pillow missing): an internal error, logged with the child's words.
    with pytest.raises(RuntimeError, match="No module named 'PIL'"):
        jobs.parse((1, b"", b"ModuleNotFoundError: No module named 'PIL'"))
    # Killed by a signal (a decoder that crashed, the kernel out of memory): the file is damaged.
    assert jobs.parse((-11, b"", b"")) is None
    assert jobs.parse((0, b'{"ok": true, "parts": [4]}\nabc', b"")) is None
    assert jobs.parse((0, b'{"ok": true, "parts": [3, 1]}\nabcd', b"")) == ({"ok": True}, [b"abc", b"d"])


def test_readings_kept_stay_within_their_bound_the_least_recently_used_going_first():
    recent = Recent(most=25)
    readings = {name: Reading(parts=[bytes(6), bytes(4)]) for name in "abc"}
    recent.put("a", readings["a"])
    recent.put("b", readings["b"])
    assert recent.get("a") is readings["a"]  # now the most recently used
    recent.put("c", readings["c"])
    recent.put("huge", Reading(parts=[bytes(26)]))
    assert {name: recent.get(name) for name in ("a", "b", "c", "huge")} == {"a": readings["a"], "b": None, "c": readings["c"], "huge": None}
