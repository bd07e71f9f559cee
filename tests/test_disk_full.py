"""A disk that cannot take another byte: every user is told so in their language, the server goes on, and it works
again once there is room. The kernel refuses the writes for real: the server's file size limit is set to 0, so each
write SQLite makes fails as on a full disk."""
import resource
import subprocess

from conftest import Browser, ServerProcess, chat, turn
from test_cli import server_command

_, UNLIMITED = resource.getrlimit(resource.RLIMIT_FSIZE)
STORAGE_CODES = ("storage_full", "storage_failed")


def limit_file_size(pid, size):
    """Set the largest file process `pid` may write (its soft limit; the hard limit stays)."""
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (size, UNLIMITED))


def no_room():
    """In the child, before it runs: no file may grow (Python ignores SIGXFSZ, so writes fail instead)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, UNLIMITED))


def test_a_full_disk_is_a_message_and_the_server_recovers(tmp_path, providers_dir):
    command, env = server_command(tmp_path / "data", providers_dir)
    server = ServerProcess(command, env=env)
    try:
        browser = Browser(server.url)
        browser.get("/")
        browser.http.cookies.set("webui_lang", "ru")
        ws = browser.connect()
        ws.send(turn("first", content="before the disk filled up"))
        assert ws.until_final("first")[-1]["reason"] == "complete"

        limit_file_size(server.process.pid, 0)
        ws.send(turn("full", content="a new chat"))
        (refused,) = ws.until_final("full")
        assert refused["type"] == "error" and refused["code"] in STORAGE_CODES
        assert "Попробуйте" in refused["message"]
        imported = browser.post("/api/conversations/import", json=[{"role": "user", "content": "x"}])
        assert imported.status_code in (503, 507)
        assert imported.json()["error"]["code"] in STORAGE_CODES
        assert "Попробуйте" in imported.json()["error"]["message"]
        # Answers that need no storage go on, on the same socket.
        ws.send(chat("plain", "still here"))
        assert "".join(f.get("text", "") for f in ws.until_final("plain")) == "still here "

        limit_file_size(server.process.pid, UNLIMITED)
        ws.send(turn("room", content="room again"))
        assert ws.until_final("room")[-1]["reason"] == "complete"
        assert browser.post("/api/conversations/import", json=[{"role": "user", "content": "x"}]).status_code == 201
    finally:
        server.stop()

    started = subprocess.run(command, env={**env, "LANG": "ru_RU.UTF-8"}, capture_output=True, text=True, timeout=60, preexec_fn=no_room)
    assert started.returncode != 0
    assert "Traceback" not in started.stderr and len(started.stderr.strip().splitlines()) == 1
    assert "webui.sqlite3" in started.stderr and "базу данных" in started.stderr.lower()
    server = ServerProcess(command, env=env)
    server.stop()

