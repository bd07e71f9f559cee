"""Only a server that finds no other serving its data folder marks answers `interrupted`: a command, a start that
fails and a second server leave a live answer streaming (on SQLite, and on PostgreSQL)."""
import subprocess
import sys
import time

import pytest
from simple_websocket import Client

from conftest import DaemonThread, ServerProcess, Socket, turn
from databases import database_settings, run_sql
from test_cli import server_command
from test_conversation_restart import get_json, owner_cookie
from webui import create_app, storage
from webui.storage import conversations
from webui.storage.database import transaction

pytestmark = pytest.mark.both_databases

# Answers "first ", then waits (at most a minute) for the file named by WEBUI_TEST_RELEASE before it ends.
HELD = '''
import os
import time

url = "http://127.0.0.1/held"
model = "held"
supports_stream = True
needs_auth = False


def _create_completion(model, messages, stream, **kwargs):
    yield "first "
    deadline = time.monotonic() + 60
    while not os.path.exists(os.environ["WEBUI_TEST_RELEASE"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    yield "last"
'''


def database_app(data_dir, database_url):
    """An app on the servers' database (the data folder's, or `database_url`), to read it behind their backs."""
    return create_app({"WEBUI_DATA_DIR": str(data_dir), **database_settings(database_url)})


def row(app, message_id):
    """(status, whole stored text) of a message in the app's database."""
    found = run_sql(app, "SELECT status, content FROM stored_messages WHERE id = ?", (message_id,))
    return tuple(found[0]) if found else None


def left_streaming(data_dir, database_url):
    """A conversation whose answer a server that died was writing: (an app on the database, the answer's id)."""
    app = database_app(data_dir, database_url)
    db = storage.app_connection(app)
    try:
        with transaction(db):
            conversation_id = conversations.create_conversation(db, "anon:x", "left behind")
            question = conversations.add_message(db, conversation_id, None, "user", "hello?")
            answer = conversations.add_message(db, conversation_id, question, "assistant", "half an", "streaming")
    finally:
        db.close()
    return app, answer


def test_only_a_lone_server_marks_answers_interrupted(tmp_path, providers_dir, database_url):
    (providers_dir / "held.py").write_text(HELD)
    release = tmp_path / "release"
    app, dead = left_streaming(tmp_path / "data", database_url)
    command, env = server_command(tmp_path / "data", providers_dir, "serve", WEBUI_TEST_RELEASE=str(release),
                                  **database_settings(database_url))
    server = ServerProcess(command, env=env)
    try:
        cookie = owner_cookie(server.url)
        # Answered by gunicorn's worker, which is the process that serves: it found no other, and marked it.
        assert row(app, dead) == ("interrupted", "half an")
        ws = Socket(Client.connect(server.url.replace("http", "ws", 1) + "/ws", headers={"Cookie": cookie}, thread_class=DaemonThread))
        ws.send({**turn("t", content="go", model="held"), "provider": "held"})
        start, first = ws.recv(), ws.recv()
        assert first["text"] == "first "
        deadline = time.monotonic() + 5
        while row(app, start["message_id"]) != ("streaming", "first ") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert row(app, start["message_id"]) == ("streaming", "first ")

        listed = subprocess.run([sys.executable, "-m", "webui", "user", "list"], env=env, capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert row(app, start["message_id"]) == ("streaming", "first "), "webui user list left it alone"

        port = server.url.rsplit(":", 1)[1]
        taken = [sys.executable, "-m", "webui", "--port", port]
        for second in (taken + ["serve"], taken):
            refused = subprocess.run(second, env=env, capture_output=True, text=True, timeout=60)
            assert refused.returncode != 0
            assert row(app, start["message_id"]) == ("streaming", "first "), f"{second[3:]} failed to start and left it alone"
        assert "Traceback" not in refused.stderr

        another = ServerProcess(server_command(tmp_path / "data", providers_dir)[0], env=env)
        another.stop()
        assert row(app, start["message_id"]) == ("streaming", "first "), "a second server found the first and left it alone"

        release.touch()
        assert ws.until_final("t")[-1]["reason"] == "complete"
        answer = get_json(f"{server.url}/api/conversations/{start['conversation_id']}", cookie)["messages"][-1]
        assert (answer["status"], answer["content"]) == ("complete", "first last")
    finally:
        release.touch()
        server.stop()
