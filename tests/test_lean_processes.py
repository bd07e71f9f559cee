"""What each process loads: the package alone nothing of the app, an app without Redis neither redis-py nor
PostgreSQL's dialect, `webui serve`'s arbiter none of the app's native libraries while its worker serves."""
import json
import subprocess
import sys
from pathlib import Path

from simple_websocket import Client

from conftest import DaemonThread, ServerProcess, Socket, chat
from test_cli import clean_env, server_command
from webui import create_app


def loaded_modules(code, env=None):
    """The names in sys.modules once a fresh Python has run `code`."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_importing_the_package_loads_no_part_of_the_app():
    modules = loaded_modules("import webui")
    assert {"flask", "sqlalchemy", "webui.app"}.isdisjoint(modules)
    assert [name for name in modules if name.startswith("webui")] == ["webui"]


# Builds the app on the test's data folder (at the newest schema already, so Alembic, which loads every dialect, stays
# out) and writes one row with an upsert, the one statement each database writes its own way (and takes it back).
BUILD_AND_UPSERT = """
import os
from webui import create_app
from webui.storage import get_db, module_keys
from webui.storage.database import transaction
app = create_app({"WEBUI_DATA_DIR": os.environ["LEAN_DATA_DIR"]})
with app.app_context():
    db = get_db()
    with transaction(db):
        module_keys.put(db, "lean", "sealed")
        module_keys.delete(db, "lean")
"""


def test_redis_py_and_postgresql_s_dialect_are_loaded_only_by_a_server_that_uses_them(tmp_path):
    create_app({"WEBUI_DATA_DIR": str(tmp_path)})
    env = clean_env(LEAN_DATA_DIR=str(tmp_path))
    alone = loaded_modules(BUILD_AND_UPSERT, env)
    assert "sqlalchemy.dialects.sqlite" in alone
    assert not [name for name in alone if name.split(".")[0] == "redis" or name.startswith("sqlalchemy.dialects.postgresql")]
    assert not [name for name in alone if name.startswith("webui.shared.") or name == "webui.chat.remote_answer"]
    # Building the app with Redis connects to nothing (it connects at first use): no server is needed here.
    shared = loaded_modules(BUILD_AND_UPSERT, {**env, "WEBUI_REDIS_URL": "redis://127.0.0.1:9/0"})
    assert {"redis", "webui.shared.limits", "webui.shared.answer_log", "webui.shared.answer_reader"} <= shared


# Native libraries that the app loads and gunicorn does not: SQLite, SQLAlchemy's compiled parts, PyCryptodome (the
# secrets' and the sessions' keys), MarkupSafe (Jinja's templates).
APP_LIBRARIES = ("_sqlite3", "/sqlalchemy/", "/Crypto/", "/markupsafe/")


def app_libraries(pid):
    """The files of APP_LIBRARIES mapped into process `pid`'s memory."""
    mapped = {line.split()[-1] for line in Path(f"/proc/{pid}/maps").read_text().splitlines() if "/" in line}
    return sorted(path for path in mapped if any(library in path for library in APP_LIBRARIES))


def children(pid):
    """The processes `pid` has started and that still run."""
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir() for child in (task / "children").read_text().split()]


def test_the_arbiter_of_webui_serve_holds_none_of_the_app_while_its_worker_serves(tmp_path, providers_dir):
    command, env = server_command(tmp_path / "data", providers_dir, "serve", LANG="C")
    server = ServerProcess(command, env=env)
    ws = None
    try:
        ws = Socket(Client.connect(server.url.replace("http", "ws", 1) + "/ws", thread_class=DaemonThread))
        ws.send(chat("lean", "served by the worker"))
        assert "".join(f.get("text", "") for f in ws.until_final("lean")) == "served by the worker "
        # The process started as `webui serve` (signalled by its PID) is the arbiter, and the worker its child.
        [worker] = children(server.process.pid)
        assert any("_sqlite3" in path for path in app_libraries(worker))
        assert app_libraries(server.process.pid) == []
    finally:
        if ws:
            ws.close()
        server.stop()
