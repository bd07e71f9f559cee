"""Roles: admins and users in users.db, `webui user` making and unmaking admins, and a demotion that takes effect at
once on every open page and socket."""
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from flask_sock import Sock
from simple_websocket import Client, ConnectionClosed
from werkzeug.security import generate_password_hash

from conftest import Browser, DaemonThread
from test_auth import PASSWORD, signed_in
from test_cli import clean_env
from webui import create_app
from webui.errors import UserError
from webui.access.roles import require_admin
from webui.storage import accounts

# The table as every release before roles made it.
OLD_SCHEMA = """CREATE TABLE users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    token TEXT NOT NULL,
    created_at REAL NOT NULL
)"""


@pytest.fixture
def app(app_config):
    """The application, with one test-only WebSocket, /test/admin, that answers each frame with "allowed" when the
    real require_admin lets its socket's session through, else with the refusal's code."""
    app = create_app(app_config)

    def admin_socket(ws):
        """Check the socket's person at each frame, as an admin-only action on a socket does."""
        while True:
            ws.receive()
            try:
                require_admin()
            except UserError as e:
                ws.send(e.code)
            else:
                ws.send("allowed")

    Sock(app).route("/test/admin")(admin_socket)
    return app


def webui(app_config, *args, stdin=None, lang="C"):
    """Run `webui ARGS` as a person does, in a process of its own, on the test's data folder."""
    env = clean_env(WEBUI_DATA_DIR=app_config["WEBUI_DATA_DIR"], LANG=lang, LC_ALL="", LC_MESSAGES="")
    command = [sys.executable, "-m", "webui", *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60, env=env)


def add(app_config, name, *flags):
    """`webui user add NAME FLAGS`, which must succeed: its output."""
    result = webui(app_config, "user", "add", name, "--password-stdin", *flags, stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    return result.stdout


def listed(app_config):
    """What `webui user list` says: {name: role}."""
    result = webui(app_config, "user", "list")
    assert result.returncode == 0, result.stderr
    return dict(line.split("\t") for line in result.stdout.splitlines())


def refused(result, words):
    """Whether a command failed with one line that says `words`, not a trace."""
    lines = result.stderr.strip().splitlines()
    return result.returncode == 1 and len(lines) == 1 and words in lines[0] and "Traceback" not in result.stderr


def old_accounts_file(app_config, accounts_by_age):
    """Write users.db as a release before roles did, with the accounts in `accounts_by_age` (name, password, created
    at): their password hashes by name."""
    Path(app_config["WEBUI_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    hashes = {name: generate_password_hash(password, "scrypt") for name, password, _created_at in accounts_by_age}
    with closing(sqlite3.connect(Path(app_config["WEBUI_DATA_DIR"]) / accounts.FILENAME)) as db, db:
        db.execute(OLD_SCHEMA)
        for name, _password, created_at in accounts_by_age:
            db.execute("INSERT INTO users VALUES (?, ?, ?, ?)", (name, hashes[name], "token-" + name, created_at))
    return hashes


def stored(app_config):
    """Every row of users.db, read directly: {name: (password hash, role)}, and the file's schema version."""
    with closing(sqlite3.connect(Path(app_config["WEBUI_DATA_DIR"]) / accounts.FILENAME)) as db:
        rows = {name: (hash, role) for name, hash, role in db.execute("SELECT name, password_hash, role FROM users")}
        return rows, db.execute("PRAGMA user_version").fetchone()[0]


def test_an_accounts_file_from_before_roles_is_upgraded_by_the_server_keeping_every_account(app_config, server):
    # Not in name order: the oldest account, not the first name, becomes the admin.
    hashes = old_accounts_file(app_config, [("zoe", "zoe's password", 1000.0), ("alice", PASSWORD, 2000.0)])
    alice = signed_in(server, "alice", PASSWORD)
    assert alice.get("/api/me").json() == {"user": "alice", "admin": False}
    zoe = signed_in(server, "zoe", "zoe's password")
    assert zoe.get("/api/me").json() == {"user": "zoe", "admin": True}
    rows, version = stored(app_config)
    assert rows == {"zoe": (hashes["zoe"], "admin"), "alice": (hashes["alice"], "user")}
    assert version == accounts.SCHEMA_VERSION
    assert listed(app_config) == {"alice": "user", "zoe": "administrator"}


def test_an_accounts_file_from_before_roles_is_upgraded_by_a_command_too(app_config):
    hashes = old_accounts_file(app_config, [("bob", "bob's password", 5.0), ("ann", "ann's password", 5.0)])
    # Made in the same instant, the one stored first is the older.
    assert listed(app_config) == {"ann": "user", "bob": "administrator"}
    assert stored(app_config) == ({"bob": (hashes["bob"], "admin"), "ann": (hashes["ann"], "user")}, accounts.SCHEMA_VERSION)


def test_the_first_account_is_an_admin_and_add_admin_makes_another(app_config):
    assert "alice is an administrator" in add(app_config, "alice")
    assert "administrator" not in add(app_config, "bob")
    assert "carol is an administrator" in add(app_config, "carol", "--admin")
    assert listed(app_config) == {"alice": "administrator", "bob": "user", "carol": "administrator"}
    assert stored(app_config)[1] == accounts.SCHEMA_VERSION
    russian = webui(app_config, "user", "list", lang="ru_RU.UTF-8")
    assert russian.stdout.splitlines() == ["alice\tадминистратор", "bob\tпользователь", "carol\tадминистратор"]


def test_promote_and_demote_and_the_last_admin_stays(app_config):
    add(app_config, "alice")
    add(app_config, "bob")
    assert webui(app_config, "user", "promote", "bob").stdout.strip() == "bob is now an administrator."
    assert webui(app_config, "user", "promote", "bob").stdout.strip() == "bob is already an administrator."
    assert webui(app_config, "user", "demote", "alice").stdout.strip() == "alice is no longer an administrator."
    assert webui(app_config, "user", "demote", "alice").stdout.strip() == "alice is not an administrator."
    assert refused(webui(app_config, "user", "demote", "bob"), "bob is the last administrator")
    russian = webui(app_config, "user", "demote", "bob", lang="ru_RU.UTF-8")
    assert refused(russian, "bob — последний администратор")
    for command in ("promote", "demote"):
        assert refused(webui(app_config, "user", command, "nobody"), "There is no user called “nobody”.")
    assert listed(app_config) == {"alice": "user", "bob": "administrator"}


def test_deleting_the_last_admin_makes_the_oldest_account_left_one(app_config):
    for name in ("alice", "bob", "carol"):
        add(app_config, name)
    deleted = webui(app_config, "user", "delete", "alice")
    assert deleted.returncode == 0 and "so bob, the oldest account left, is one now" in deleted.stdout
    assert listed(app_config) == {"bob": "administrator", "carol": "user"}
    assert "administrator" not in webui(app_config, "user", "delete", "carol").stdout
    assert listed(app_config) == {"bob": "administrator"}


def test_without_accounts_the_person_at_the_page_is_the_admin(app_config):
    loopback = create_app(app_config).test_client()
    assert loopback.get("/api/me").json == {"user": None, "admin": True}
    assert loopback.get("/api/admin/users").json == {"users": []}
    lan = {**app_config, "WEBUI_HOST": "0.0.0.0"}
    no_auth = create_app({**lan, "WEBUI_NO_AUTH": True}).test_client()
    assert no_auth.get("/api/me").json == {"user": None, "admin": True}
    # On a network address without accounts or --no-auth nobody is let in, so nobody is an admin.
    assert create_app(lan).test_client().get("/api/me").status_code == 401


def test_with_accounts_only_admins_are_admins(app_config, server):
    add(app_config, "alice")
    add(app_config, "bob")
    alice, bob = signed_in(server, "alice"), signed_in(server, "bob")
    assert alice.get("/api/me").json() == {"user": "alice", "admin": True}
    assert alice.get("/api/admin/users").json() == {"users": [{"name": "alice", "role": "admin"}, {"name": "bob", "role": "user"}]}
    assert bob.get("/api/me").json() == {"user": "bob", "admin": False}
    for language, words in [("en", "Only an administrator can change this."), ("ru", "только администратор")]:
        response = bob.get("/api/admin/users", headers={"Accept-Language": language})
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
        assert words in response.json()["error"]["message"]
    assert Browser(server.url).get("/api/me").status_code == 401


def admin_socket(browser):
    """A WebSocket to /test/admin with the browser's session."""
    url = browser.url.replace("http", "ws", 1) + "/test/admin"
    return Client.connect(url, headers={"Cookie": browser.cookie_header()}, thread_class=DaemonThread)


def ask(ws):
    """Try the admin-only action on the socket: "allowed", or the refusal's code; "closed" if the server closed it."""
    try:
        ws.send("change something")
        return ws.receive(timeout=10)
    except ConnectionClosed:
        return "closed"


def admin_at_work(app_config, server, name):
    """Two admins, alice and bob; `name` signed in, with a socket open on which the admin-only action passes."""
    add(app_config, "alice")
    add(app_config, "bob", "--admin")
    browser = signed_in(server, name)
    ws = admin_socket(browser)
    assert ask(ws) == "allowed"
    assert browser.get("/api/admin/users").status_code == 200
    return browser, ws


def test_a_demoted_admin_loses_the_right_at_once_on_open_sockets_and_pages(app_config, server):
    alice, ws = admin_at_work(app_config, server, "alice")
    assert webui(app_config, "user", "demote", "alice").returncode == 0
    # The same socket and the same session, with nothing reloaded or signed in again.
    assert ask(ws) == "forbidden"
    page = alice.get("/api/admin/users")
    assert page.status_code == 403 and page.json()["error"]["code"] == "forbidden"
    assert alice.get("/api/me").json() == {"user": "alice", "admin": False}
    assert webui(app_config, "user", "promote", "alice").returncode == 0
    assert ask(ws) == "allowed"
    assert alice.get("/api/me").json()["admin"] is True
    ws.close()


def test_a_deleted_admin_loses_the_right_at_once_on_open_sockets_and_pages(app_config, server):
    bob, ws = admin_at_work(app_config, server, "bob")
    assert webui(app_config, "user", "delete", "bob").returncode == 0
    # The server closes the socket of a deleted account within seconds; until then it is refused.
    assert ask(ws) in ("forbidden", "closed")
    assert bob.get("/api/admin/users").status_code == 401
    ws.close()
