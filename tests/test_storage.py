"""The SQLite file: created in WAL mode, upgraded from older schemas with the data intact, safe from many threads."""
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import bindparam, func, select, update

from webui import create_app, storage
from webui.serving.lock import start_serving
from webui.config import ConfigError
from webui.storage import answer_parts, conversations
from webui.storage.database import StorageError, transaction
from webui.storage.engine import POOL_SIZE, driver_errors
from webui.storage.migrations import MIGRATIONS, SCHEMA_VERSION
from webui.storage.schema import messages
from webui.storage.statements import run_many

from conftest import turn

# The first released schema, written out as it was: an upgrade test must not depend on today's code.
V1 = """
CREATE TABLE conversations (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, title TEXT NOT NULL DEFAULT '',
    system_prompt TEXT NOT NULL DEFAULT '', options TEXT NOT NULL DEFAULT '{}', provider TEXT, model TEXT,
    leaf_id TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX conversations_by_owner ON conversations (owner, updated_at);
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    parent_id TEXT REFERENCES messages (id) ON DELETE CASCADE, role TEXT NOT NULL, content TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'complete', provider TEXT, model TEXT, stats TEXT, error TEXT, created_at REAL NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id);
CREATE INDEX messages_by_parent ON messages (parent_id);
CREATE INDEX messages_by_status ON messages (status);
INSERT INTO conversations VALUES (1, 'old1', 'anon:AAAAAAAAAAAAAAAAAAAAAA', 'Старый разговор', 'Be kind.', '{"temperature": 0.5}',
    'testing', 'echo', 'm2', 1700000000.0, 1700000100.0);
INSERT INTO messages VALUES (1, 'm1', 'old1', NULL, 'user', 'Where is my ancient text?', 'complete', NULL, NULL, NULL, NULL, 1700000000.0);
INSERT INTO messages VALUES (2, 'm2', 'old1', 'm1', 'assistant', 'Half an answ', 'streaming', 'testing', 'echo', NULL, NULL, 1700000001.0);
PRAGMA user_version = 1;
"""


def database(app_config):
    """The database file an app with these settings uses."""
    return Path(app_config["WEBUI_DATA_DIR"]) / storage.FILENAME


def pragma(path, name):
    """Read one PRAGMA of a database file."""
    db = sqlite3.connect(path)
    try:
        return db.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        db.close()


def test_a_new_database_is_created_at_the_current_version_in_wal_mode(app, app_config):
    path = database(app_config)
    assert path.is_file()
    assert pragma(path, "user_version") == SCHEMA_VERSION
    assert pragma(path, "journal_mode") == "wal"


@pytest.mark.sqlite_only
def test_a_new_data_folder_and_its_databases_are_its_owners_alone(app_config, tmp_path, caplog):
    """Every conversation is in the folder: under the usual umask, other local users must not read it."""
    config = {**app_config, "WEBUI_DATA_DIR": str(tmp_path / "fresh" / "data")}
    umask = os.umask(0o022)
    try:
        app = create_app(config)
        app.test_client().post("/api/conversations/import", json={"title": "private", "messages": [
            {"role": "user", "content": "a secret"}]})
        with app.app_context():
            storage.get_db().close()
    finally:
        os.umask(umask)
    folder = Path(config["WEBUI_DATA_DIR"])
    modes = {path.name: path.stat().st_mode & 0o777 for path in folder.glob("webui.sqlite3*")}
    assert (folder.stat().st_mode & 0o777, modes) == (0o700, {"webui.sqlite3": 0o600, "webui.sqlite3-wal": 0o600,
                                                               "webui.sqlite3-shm": 0o600})
    # An existing file others can read stays as the operator left it, and the log says so.
    (folder / "webui.sqlite3").chmod(0o644)
    create_app(config)
    assert "webui.sqlite3 can be read by other users" in caplog.text


def test_an_old_database_is_upgraded_with_its_data_intact(app_config):
    path = database(app_config)
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.executescript(V1)
    db.close()

    app = create_app(app_config)
    assert pragma(path, "user_version") == SCHEMA_VERSION
    # The answer cut off by the old server is marked once a server starts serving the folder.
    start_serving(app)
    client = app.test_client()
    client.set_cookie("webui_owner", "AAAAAAAAAAAAAAAAAAAAAA")
    conversation = client.get("/api/conversations/old1").json
    assert conversation["title"] == "Старый разговор"
    assert (conversation["system_prompt"], conversation["options"]) == ("Be kind.", {"temperature": 0.5})
    assert [(m["id"], m["content"], m["status"]) for m in conversation["messages"]] == [
        ("m1", "Where is my ancient text?", "complete"),
        ("m2", "Half an answ", "interrupted"),
    ]
    assert conversation["created_at"] == "2023-11-14T22:13:20.000Z"
    for query in ("ancient", "СТАРЫЙ", "answ"):
        found = client.get("/api/conversations", query_string={"q": query}).json["conversations"]
        assert [c["id"] for c in found] == ["old1"], query


def test_a_database_of_schema_2_with_an_answer_streaming_is_upgraded_in_place(app_config):
    path = database(app_config)
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(V1)
    # Released steps are never edited: today's step 2 is the one every schema-2 database ran.
    for statement in MIGRATIONS[1]:
        db.execute(statement)
    db.execute("PRAGMA user_version = 2")
    db.close()

    app = create_app(app_config)
    assert pragma(path, "user_version") == SCHEMA_VERSION
    client = app.test_client()
    client.set_cookie("webui_owner", "AAAAAAAAAAAAAAAAAAAAAA")
    assert client.get("/api/conversations/old1").json["messages"][-1]["content"] == "Half an answ"
    # The answer goes on by parts, as one written by this version would.
    db = storage.app_connection(app)
    part = answer_parts.Part("m2", "er, then more", "answ", "testing", "echo", None)
    assert db.write(answer_parts.append_parts, [part]) == set()
    db.close()
    answer = client.get("/api/conversations/old1").json["messages"][-1]
    assert (answer["content"], answer["status"]) == ("Half an answer, then more", "streaming")
    assert [c["id"] for c in client.get("/api/conversations?q=answer").json["conversations"]] == ["old1"]
    start_serving(app)
    answer = client.get("/api/conversations/old1").json["messages"][-1]
    assert (answer["content"], answer["status"]) == ("Half an answer, then more", "interrupted")
    assert [c["id"] for c in client.get("/api/conversations?q=more").json["conversations"]] == ["old1"]


def test_a_database_from_a_newer_version_is_left_alone(app_config):
    path = database(app_config)
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="newer version"):
        create_app(app_config)
    assert path.read_bytes() == before


@pytest.fixture
def conversation(app):
    """A connection to the app's database, and an empty conversation in it: (db, its id)."""
    db = storage.app_connection(app)
    with transaction(db):
        conversation_id = conversations.create_conversation(db, "anon:x", "a conversation")
    yield db, conversation_id
    db.close()


def open_files(path):
    """How many of this process's file descriptors are open on `path`."""
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            found += os.readlink(f"/proc/self/fd/{fd}") == str(path)
        except OSError:
            pass  # closed meanwhile
    return found


def test_open_pages_hold_no_connection_to_the_database(server, app_config):
    # A connection holds SQLite's parsed schema and its prepared statements; one per open page would cost that for
    # every page. Each socket here has stored a conversation and stays open.
    sockets = [server.connect() for _ in range(3 * POOL_SIZE)]
    for number, socket in enumerate(sockets):
        socket.send(turn(number, content=f"hello {number}"))
    for number, socket in enumerate(sockets):
        assert socket.until_final(number)[-1]["type"] == "done"
    # Each connection holds the -wal file open (the main file's descriptors may outlive their connections: SQLite
    # defers closing them while others hold locks). The titles are written after the answers: once they are, what
    # stays open is the pool, which keeps POOL_SIZE.
    wal = f"{database(app_config)}-wal"
    deadline = time.monotonic() + 10
    while (opened := open_files(wal)) > POOL_SIZE and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 0 < opened <= POOL_SIZE


@pytest.mark.both_databases
def test_many_threads_write_at_once(app, conversation):
    _, conversation_id = conversation
    errors = []

    def write(n):
        """Add messages in small transactions from this thread's own connection."""
        db = storage.app_connection(app)
        try:
            for i in range(25):
                with transaction(db):
                    conversations.add_message(db, conversation_id, None, "user", f"thread {n} message {i}")
        except (driver_errors(), StorageError) as e:
            errors.append(e)
        finally:
            db.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    db = storage.app_connection(app)
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 200
    db.close()


def test_deleting_a_conversation_removes_its_messages_from_search(client, app):
    created = client.post("/api/conversations/import", json=[{"role": "user", "content": "needle in a haystack"}])
    assert client.get("/api/conversations?q=needle").json["conversations"] != []
    assert client.delete(f"/api/conversations/{created.json['id']}").status_code == 204
    assert client.get("/api/conversations?q=needle").json["conversations"] == []
    db = storage.app_connection(app)
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM message_search WHERE message_search MATCH 'needle'").fetchone()[0] == 0
    db.close()


@pytest.mark.both_databases
def test_a_statement_tells_how_many_rows_it_changed(conversation):
    db, conversation_id = conversation
    with transaction(db):
        for n in range(3):
            conversations.add_message(db, conversation_id, None, "user", f"message {n}")
        changed = db.execute(update(messages).where(messages.c.conversation_id == conversation_id).values(content="x"))
    assert (changed.rowcount, changed.fetchall()) == (3, [])
    assert db.execute(select(func.count()).select_from(messages)).fetchone()[0] == 3


@pytest.mark.both_databases
def test_a_core_statement_takes_each_parameter_given_and_its_own_value_for_the_rest(conversation):
    db, conversation_id = conversation
    with transaction(db):
        ids = [conversations.add_message(db, conversation_id, None, "user", f"message {n}") for n in range(4)]
    rewrite = update(messages).where(messages.c.id == bindparam("mid")).values(content=bindparam("content", "its own"))
    db.execute(rewrite, {"mid": ids[0]})
    db.execute(rewrite, {"mid": ids[1], "content": "given, with an emoji cut in two: \ud83d"})
    changed = db.write(lambda link: run_many(link, rewrite, [{"mid": ids[2]}, {"mid": ids[3], "content": "given\0"}]))
    stored = dict(db.execute(select(messages.c.id, messages.c.content).where(messages.c.conversation_id == conversation_id)))
    nul = "\0" if db.sqlite else "\ufffd"  # PostgreSQL's text cannot hold a NUL
    assert changed == 2
    assert [stored[message_id] for message_id in ids] == ["its own", "given, with an emoji cut in two: \ufffd", "its own", "given" + nul]


def test_a_full_database_file_is_storage_full(conversation):
    db, conversation_id = conversation
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    # SQLite's own ceiling on the file's size, per connection: past it SQLite says the disk is full.
    db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StorageError) as refused, transaction(db):
        conversations.add_message(db, conversation_id, None, "user", "x" * 100_000)
    assert refused.value.code == "storage_full"
    assert "database or disk is full" in refused.value.cause
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
