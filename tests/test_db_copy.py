"""`webui db copy --to postgresql://…`: every row of a populated SQLite install into an empty PostgreSQL database, the
counts checked and printed; a target that holds rows is refused and left as it was."""
import pytest
from click.testing import CliRunner

from attachment_files import upload
from databases import run_sql
from test_attachments_cleanup import conversation_with, owner
from test_auth import add_user
from webui import create_app, secrets
from webui.commands.cli import main
from webui.storage import schema

KEYS = {table.name: ", ".join(column.name for column in table.primary_key.columns) for table in schema.COPIED}


@pytest.fixture
def target(postgres_cluster):
    """The URL of an empty PostgreSQL database, dropped after the test."""
    name = postgres_cluster.create_database()
    yield postgres_cluster.url(name)
    postgres_cluster.drop_database(name)


def populate(app_config):
    """A SQLite install with a row in every table."""
    app = create_app(app_config)
    client = app.test_client()
    client.get("/")
    imported = client.post("/api/conversations/import", json=[{"role": "user", "content": "Привет, мир"},
                                                              {"role": "assistant", "content": "hello world"}])
    assert imported.status_code == 201
    sent = upload(client, b"a text file", "a.txt", "text/plain").json["id"]
    conversation_with(app, owner(client), [[sent]])
    assert client.post("/api/presets", json={"name": "Brief"}).status_code == 201
    assert client.post("/api/presets", json={"name": "Long", "default": True}).status_code == 201
    run_sql(app, "INSERT INTO messages (id, conversation_id, role, content, status, created_at)"
                 " VALUES ('streaming1', ?, 'assistant', 'Half ', 'streaming', 1.5)", (imported.json["id"],))
    run_sql(app, "INSERT INTO answer_parts (message_id, text, lead) VALUES ('streaming1', 'an answer', '')")
    with app.app_context():
        sealed = secrets.get_box().encrypt("sk-test")
    run_sql(app, "INSERT INTO connections (id, name, type, base_url, api_key, created_at, updated_at)"
                 " VALUES ('k1', 'lab', 'openai', 'http://127.0.0.1:9/v1', ?, 1.0, 2.0)", (sealed,))
    run_sql(app, "INSERT INTO module_keys (name, api_key, updated_at) VALUES ('search', ?, 3.0)", (sealed,))
    run_sql(app, "INSERT INTO api_tokens (id, owner, name, hash, created_at) VALUES ('t1', 'anon:someone', 'ed', 'ab', 4.0)")
    add_user(app_config, "alice")
    add_user(app_config, "bob")
    # A file the clean-up has yet to check, as a crash between a deletion and the clean-up leaves it.
    run_sql(app, "INSERT INTO attachment_garbage (hash) VALUES (?)", ("ab" * 32,))
    return app


def every_row(app):
    """table name -> its rows, in the order of its key."""
    return {table.name: [tuple(row) for row in run_sql(app, f"SELECT {', '.join(map(readable, table.columns.keys()))}"
                                                             f" FROM {table.name} ORDER BY {KEYS[table.name]}")]
            for table in schema.COPIED if table is not schema.users}


def readable(column):
    """A column as both databases read it: `vision` is an integer or text on SQLite, text on PostgreSQL."""
    return "CAST(vision AS TEXT)" if column == "vision" else column


def copy(app_config, url):
    """Run `webui db copy --to URL` on the install."""
    env = {"WEBUI_DATA_DIR": app_config["WEBUI_DATA_DIR"], "LANG": "C", "LC_ALL": None, "LC_MESSAGES": None}
    return CliRunner().invoke(main, ["db", "copy", "--to", url], env=env)


def test_every_row_is_copied_and_counted(app_config, target):
    source = populate(app_config)
    before = every_row(source)
    assert all(before.values()), {name: rows for name, rows in before.items() if not rows}
    result = copy(app_config, target)
    assert result.exit_code == 0, result.output
    assert "users: 2 rows, 2 copied" in result.output and "answer_parts: 1 rows, 1 copied" in result.output
    assert len([line for line in result.output.splitlines() if " copied" in line]) == len(schema.COPIED)
    copied = create_app({**app_config, "WEBUI_DATABASE_URL": target})
    assert every_row(copied) == before
    with copied.app_context():
        from webui.storage import accounts

        assert accounts.roles() == [("alice", "admin"), ("bob", "user")]
    # The copy is a working database: new rows take numbers after the copied ones.
    assert run_sql(copied, "INSERT INTO presets (id, name, created_at, updated_at) VALUES ('new', 'n', 1, 1) RETURNING seq")[0][0] == 3


def test_a_target_that_holds_rows_is_refused_and_left_as_it_was(app_config, target):
    populate(app_config)
    assert copy(app_config, target).exit_code == 0
    copied = create_app({**app_config, "WEBUI_DATABASE_URL": target})
    run_sql(copied, "DELETE FROM presets")
    rows = every_row(copied)
    again = copy(app_config, target)
    assert again.exit_code == 1 and "not empty" in again.output and "Traceback" not in again.output
    assert every_row(copied) == rows


def test_a_target_that_is_not_postgresql_is_refused(app_config, tmp_path):
    populate(app_config)
    result = copy(app_config, f"sqlite:///{tmp_path / 'other.db'}")
    assert result.exit_code == 1 and "PostgreSQL" in result.output
