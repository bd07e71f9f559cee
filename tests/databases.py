"""The `database_url` fixture: SQLite by default; modules marked `both_databases` run each test on PostgreSQL too.

A module opts in with `pytestmark = pytest.mark.both_databases` (and a test of SQLite's own ways in it opts out with
`pytest.mark.sqlite_only`). PostgreSQL is one cluster for the whole session
(tests/postgres_server.py), started when a test first needs it; each test gets a fresh database, dropped after it.
`run_sql(app, sql, params)` reads or writes the app's database behind its back, whichever it is;
`database_settings(database_url)` names the test's database to a server it starts.
"""
import re

import pytest
from sqlalchemy import text

from webui.storage import app_connection

DATABASES = ["sqlite", "postgresql"]


def pytest_configure(config):
    """Declare the marker."""
    config.addinivalue_line("markers", "both_databases: run the module's tests on SQLite and on PostgreSQL")
    config.addinivalue_line("markers", "sqlite_only: a test of what only SQLite does, in a module marked both_databases")


def pytest_generate_tests(metafunc):
    """Run the tests of a module marked both_databases once per database."""
    marked = metafunc.definition.get_closest_marker
    if "database_url" in metafunc.fixturenames and marked("both_databases") and not marked("sqlite_only"):
        metafunc.parametrize("database_url", DATABASES, indirect=True)


@pytest.fixture(scope="session")
def postgres_cluster():
    """One PostgreSQL cluster for the session, stopped and removed at its end."""
    from postgres_server import PostgresServer

    cluster = PostgresServer()
    try:
        yield cluster.start()
    finally:
        cluster.destroy()


@pytest.fixture
def database_url(request):
    """None for SQLite in the data folder, or the URL of a fresh PostgreSQL database for this test."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield None
        return
    cluster = request.getfixturevalue("postgres_cluster")
    name = cluster.create_database()
    try:
        yield cluster.url(name)
        # The test ran on PostgreSQL, not on a file beside it: its app made the schema there.
        assert cluster.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'conversations'", name).strip() == "1"
    finally:
        cluster.drop_database(name)


def run_sql(app, sql, params=()):
    """Run one statement (`?` placeholders) on the app's database, outside any request: its rows. It goes as a Core
    expression, as the app's own statements do (the app gives SQL text to SQLite only)."""
    numbers = iter(range(len(params)))
    # text() reads `:name` as a parameter: the statement's own colons (in 'http://…', say) are escaped first.
    statement = text(re.sub(r"\?", lambda _: f":p{next(numbers)}", sql.replace(":", "\\:")))
    with app.app_context():
        db = app_connection(app)
        try:
            return list(db.execute(statement, {f"p{n}": value for n, value in enumerate(params)}))
        finally:
            db.close()


def database_settings(database_url):
    """The settings that name the test's database to a server or command: none for the data folder's SQLite file."""
    return {"WEBUI_DATABASE_URL": database_url} if database_url else {}
