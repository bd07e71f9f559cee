"""Another program holding the database's write lock (a second instance, a backup, the sqlite3 shell) stops only the
writes that need it: under `webui serve` everything else goes on, and a writer is told within WEBUI_DATABASE_TIMEOUT."""
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from simple_websocket import Client

from conftest import Browser, DaemonThread, LiveServer, ServerProcess, Socket, chat, turn
from test_auth import add_user, signed_in
from test_cli import server_command
from test_conversation_restart import get_json, owner_cookie
from webui import create_app, storage
from webui.storage import accounts

WAIT = 5


def test_a_held_write_lock_stops_only_the_writes_that_need_it(tmp_path, providers_dir):
    data = tmp_path / "data"
    command, env = server_command(data, providers_dir, "serve", WEBUI_DATABASE_TIMEOUT=str(WAIT), LANG="C")
    server = ServerProcess(command, env=env)
    holder = sqlite3.connect(Path(data) / storage.FILENAME, isolation_level=None)
    try:
        cookie = owner_cookie(server.url)
        ws_url = server.url.replace("http", "ws", 1) + "/ws"
        writer, reader = (Socket(Client.connect(ws_url, headers={"Cookie": cookie}, thread_class=DaemonThread)) for _ in "wr")
        writer.send(turn("before", content="stored before the lock"))
        conversation_id = writer.until_final("before")[0]["conversation_id"]

        holder.execute("BEGIN IMMEDIATE")
        began = time.monotonic()
        writer.send(turn("blocked", conversation_id, content="this one has to wait"))
        reader.send(chat("plain", "n", model="numbered", options={"max_tokens": 20}))
        plain = reader.until_final("plain")
        assert plain[-1]["type"] == "done" and plain[-1]["reason"] == "complete"
        assert "".join(f["text"] for f in plain if f["type"] == "delta") == "".join(f"n{n} " for n in range(20))
        for path in ("/", f"/c/{conversation_id}"):
            page = requests.get(server.url + path, headers={"Cookie": cookie}, timeout=10)
            assert page.status_code == 200 and 'id="messages"' in page.text
        assert "stored before the lock" in page.text
        assert writer.ws.receive(timeout=0) is None, "the answer and the pages came while the write was still waiting"

        (refused,) = writer.until_final("blocked", timeout=WAIT + 10)
        assert refused["code"] == "storage_busy"
        assert "another program is writing" in refused["message"]
        assert time.monotonic() - began < WAIT + 10

        holder.execute("ROLLBACK")
        writer.send(turn("after", conversation_id, content="written once the lock is gone"))
        assert writer.until_final("after")[-1]["reason"] == "complete"
        stored = get_json(f"{server.url}/api/conversations/{conversation_id}", cookie)
        assert [m["content"] for m in stored["messages"]] == [
            "stored before the lock", "stored before the lock ", "written once the lock is gone", "written once the lock is gone ",
        ]
    finally:
        holder.close()
        server.stop()


def test_a_held_lock_on_the_accounts_file_stops_only_the_requests_that_read_it(tmp_path, providers_dir):
    data = tmp_path / "data"
    command, env = server_command(data, providers_dir, "serve", LANG="C")
    added = subprocess.run(
        command[:3] + ["user", "add", "ann", "--password-stdin"], input="a long password\n", env=env, capture_output=True,
        text=True, timeout=60,
    )
    assert added.returncode == 0, added.stderr
    server = ServerProcess(command, env=env)
    holder = sqlite3.connect(data / "users.db", isolation_level=None)
    try:
        browser = Browser(server.url)
        assert browser.login("ann", "a long password").status_code == 302
        ws = browser.connect()
        holder.execute("BEGIN EXCLUSIVE")
        with ThreadPoolExecutor(1) as pool:
            # Every request reads the accounts file, which waits for the lock.
            page = pool.submit(browser.get, "/")
            ws.send(chat("plain", "n", model="numbered", options={"max_tokens": 20}))
            assert ws.until_final("plain")[-1]["reason"] == "complete"
            assert not page.done(), "the answer streamed while the page waited for the accounts file"
            holder.execute("ROLLBACK")
            assert page.result(timeout=30).status_code == 200
        # Held past SQLite's wait, the lock is a clear refusal for the request that needed the file, not a 500.
        holder.execute("BEGIN EXCLUSIVE")
        refused = browser.get("/api/conversations")
        holder.execute("ROLLBACK")
        assert (refused.status_code, refused.json()["error"]["code"]) == (503, "storage_busy")
        assert "another program is writing" in refused.json()["error"]["message"]
        assert browser.get("/").status_code == 200
    finally:
        holder.close()
        server.stop()


def test_a_lock_on_the_accounts_file_is_waited_for_as_long_as_the_setting_says(app_config):
    app_config["WEBUI_DATABASE_TIMEOUT"] = 9
    add_user(app_config)
    server = LiveServer(create_app(app_config))
    holder = sqlite3.connect(Path(app_config["WEBUI_DATA_DIR"]) / accounts.FILENAME, isolation_level=None)
    try:
        browser = signed_in(server)
        holder.execute("BEGIN EXCLUSIVE")
        with ThreadPoolExecutor(1) as pool:
            page = pool.submit(browser.get, "/")
            # Longer than the 5 s the accounts file once waited whatever the setting said.
            time.sleep(6.5)
            assert not page.done(), "the request stopped waiting for the accounts file before WEBUI_DATABASE_TIMEOUT"
            holder.execute("ROLLBACK")
            assert page.result(timeout=30).status_code == 200
    finally:
        holder.close()
        server.stop()


def slow_insert(connection, n):
    """Write a row, taking a while about it, as a turn's or a saver round's transaction does under load."""
    time.sleep(0.05)
    storage.database.run_statement(connection, "INSERT INTO t VALUES (?)", (n,))


def test_the_process_own_writers_queue_without_storage_busy_but_a_foreign_lock_still_gives_it(tmp_path):
    path = tmp_path / "queue.db"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode = WAL")
        setup.execute("CREATE TABLE t (n INTEGER)")
    wait = 0.5
    store = storage.engine.sqlite_engine(path, wait, storage.gate.Gate())
    # 30 writers of 50 ms each queue three times longer than the wait: turns go by, so none gives up.
    with ThreadPoolExecutor(30) as pool:
        outcomes = list(pool.map(lambda n: storage.database.Database(store).write(slow_insert, n), range(30)))
    assert outcomes == [None] * 30
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT count(*) FROM t").fetchone() == (30,)
    # Another program holds the write lock: the writer in its turn and the one behind it both give up, about a wait
    # after the last turn ended, and nothing is written.
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(storage.database.Database(store).write, slow_insert, n) for n in (98, 99)]
            errors = [future.exception(timeout=10) for future in futures]
        assert [getattr(error, "code", error) for error in errors] == ["storage_busy", "storage_busy"]
        assert time.monotonic() - started < 5 * wait
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT count(*) FROM t").fetchone() == (30,)
