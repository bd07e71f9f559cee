"""The schema's upgrade at start: SQLite files of every released step move onto Alembic with their rows, a database of
a newer version is refused, and processes starting together upgrade once."""
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from databases import run_sql
from webui import create_app, storage
from webui.config import ConfigError
from webui.storage.migrations import MIGRATIONS, SCHEMA_VERSION
from webui.storage.upgrade import HEAD, SCRIPTS

OWNER = "anon:" + "A" * 22


def legacy_file(path, version):
    """A SQLite file as a release before Alembic left it at PRAGMA user_version `version` (its released steps, run as
    that release ran them), with a conversation whose answer is streaming (parts from step 3 on)."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        for step in MIGRATIONS[:version]:
            for statement in step:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {version}")
        db.execute("INSERT INTO conversations (id, owner, title, created_at, updated_at)"
                   " VALUES ('c1', ?, 'Старый разговор', 1700000000.0, 1700000100.0)", (OWNER,))
        db.execute("INSERT INTO messages (id, conversation_id, role, content, created_at)"
                   " VALUES ('m1', 'c1', 'user', 'Where is my ancient text?', 1700000000.0)")
        db.execute("INSERT INTO messages (id, conversation_id, parent_id, role, content, status, created_at)"
                   " VALUES ('m2', 'c1', 'm1', 'assistant', 'Half an ', 'streaming', 1700000001.0)")
        if version >= 3:
            db.execute("INSERT INTO answer_parts (message_id, text, lead) VALUES ('m2', 'answer', '')")
        if version >= 4:
            db.execute("INSERT INTO presets (id, owner, name, created_at, updated_at) VALUES ('p1', ?, 'Brief', 1, 1)", (OWNER,))


@pytest.mark.parametrize("version", [1, 4, SCHEMA_VERSION])
def test_a_sqlite_file_of_any_released_step_is_upgraded_with_its_rows(app_config, version):
    data = Path(app_config["WEBUI_DATA_DIR"])
    data.mkdir(parents=True)
    legacy_file(data / storage.FILENAME, version)
    app = create_app(app_config)
    assert run_sql(app, "PRAGMA user_version")[0][0] == SCHEMA_VERSION
    assert [tuple(row) for row in run_sql(app, "SELECT version_num FROM alembic_version")] == [(HEAD,)]
    rows = run_sql(app, "SELECT id, content, status FROM stored_messages ORDER BY seq")
    text = "Half an answer" if version >= 3 else "Half an "
    assert [tuple(row) for row in rows] == [("m1", "Where is my ancient text?", "complete"), ("m2", text, "streaming")]
    client = app.test_client()
    client.set_cookie("webui_owner", "A" * 22)
    assert [c["id"] for c in client.get("/api/conversations?q=ancient").json["conversations"]] == ["c1"]
    assert [c["id"] for c in client.get("/api/conversations?q=старый").json["conversations"]] == ["c1"]
    assert len(run_sql(app, "SELECT * FROM presets")) == (1 if version >= 4 else 0)
    # Started again, the current file is left as it is.
    create_app(app_config)
    assert [tuple(row) for row in run_sql(app, "SELECT version_num FROM alembic_version")] == [(HEAD,)]


@pytest.mark.both_databases
def test_a_database_of_a_newer_revision_is_refused_untouched(app_config):
    app = create_app(app_config)
    run_sql(app, "UPDATE alembic_version SET version_num = 'f00dcafe9999'")
    with pytest.raises(ConfigError, match="newer version of webui"):
        create_app(app_config)
    assert [tuple(row) for row in run_sql(app, "SELECT version_num FROM alembic_version")] == [("f00dcafe9999",)]


@pytest.mark.both_databases
def test_processes_starting_together_upgrade_the_database_once(app_config):
    data = Path(app_config["WEBUI_DATA_DIR"])
    data.mkdir(parents=True)
    location = storage.database_location(app_config)
    # Each with an engine of its own, as processes have (and a bare upgrade, not a whole app each: building apps in
    # threads meets a CPython race in compile() that has nothing to do with the database).
    stores = [storage.engine.postgres_engine(location, 10, None) if app_config["WEBUI_DATABASE_URL"]
              else storage.engine.sqlite_engine(location, 10, None) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(storage.upgrade, store) for store in stores]:
            future.result(timeout=60)
    app = create_app(app_config)
    assert [tuple(row) for row in run_sql(app, "SELECT version_num FROM alembic_version")] == [(HEAD,)]
    client = app.test_client()
    client.get("/")
    assert client.post("/api/conversations/import", json=[{"role": "user", "content": "hi"}]).status_code == 201


def test_the_head_the_start_compares_with_is_the_newest_revision():
    assert ScriptDirectory(str(SCRIPTS)).get_current_head() == HEAD


def test_a_sqlite_url_names_the_file_to_use(app_config, tmp_path):
    path = tmp_path / "elsewhere" / "chats.sqlite3"
    path.parent.mkdir()
    app = create_app({**app_config, "WEBUI_DATABASE_URL": f"sqlite:///{path}"})
    client = app.test_client()
    client.get("/")
    assert client.post("/api/conversations/import", json=[{"role": "user", "content": "hi"}]).status_code == 201
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT content FROM messages").fetchall() == [("hi",)]
    assert not (Path(app_config["WEBUI_DATA_DIR"]) / storage.FILENAME).exists()
