"""Sessions that end: signing out, a new password, a deleted or a first account close sockets within seconds; a deleted
account's conversations and answers go with it."""
import time

import pytest
from simple_websocket import ConnectionClosed

from conftest import Browser, ServerProcess, chat, turn
from test_auth import PASSWORD, add_user, signed_in, webui
from test_cli import server_command
from webui.storage import get_db
from webui.storage.conversations import create_conversation

pytestmark = pytest.mark.both_databases


def closed_within(ws, seconds):
    """Whether the server closes the socket within `seconds`."""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            ws.ws.receive(timeout=0.1)
    except ConnectionClosed:
        return True
    return False


@pytest.fixture(params=["in-process", "webui", "webui serve"])
def any_server(request, app_config, server):
    """The test's app served in this process, or its data folder by `webui` (gevent's server) or `webui serve`
    (gunicorn's), which hand the app the connection's socket in different ways."""
    if request.param == "in-process":
        yield server
        return
    database = {"WEBUI_DATABASE_URL": app_config["WEBUI_DATABASE_URL"]} if app_config["WEBUI_DATABASE_URL"] else {}
    command, env = server_command(app_config["WEBUI_DATA_DIR"], app_config["WEBUI_PROVIDERS_DIR"],
                                  *request.param.split()[1:], **database)
    process = ServerProcess(command, env=env)
    yield process
    process.stop()


def test_signing_out_closes_that_users_sockets_and_ends_all_their_sessions(app_config, any_server):
    server = any_server
    add_user(app_config)
    here, elsewhere = signed_in(server), signed_in(server)
    sockets = [here.connect(), elsewhere.connect()]
    refused = here.http.post(server.url + "/logout", timeout=10, allow_redirects=False)
    assert refused.status_code == 403, "signing out needs the CSRF token too"
    response = here.post("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert all(closed_within(ws, 5) for ws in sockets)
    assert elsewhere.get("/api/providers").status_code == 401
    assert here.get("/api/providers").status_code == 401


def test_the_first_account_closes_the_sockets_of_nobody_signed_in(app_config, any_server):
    """Made while the server runs (`webui user add`), it requires signing in: a page opened before may not go on."""
    anonymous = Browser(any_server.url)
    ws = anonymous.connect()
    ws.send(chat("before", "still open"))
    assert ws.until_final("before")[-1]["type"] == "done"
    add_user(app_config)
    assert closed_within(ws, 5)
    assert anonymous.get("/api/providers").status_code == 401


def test_a_new_password_or_a_deleted_account_closes_sockets_within_seconds(app_config, any_server):
    server = any_server
    add_user(app_config)
    add_user(app_config, "bob")  # so that deleting alice leaves the server asking for a session
    browser = signed_in(server)
    ws = browser.connect()
    assert webui(app_config, "user", "passwd", "alice", "--password-stdin", stdin="a new password").exit_code == 0
    assert closed_within(ws, 5)
    assert browser.get("/api/providers").status_code == 401
    browser = signed_in(server, password="a new password")
    ws = browser.connect()
    assert webui(app_config, "user", "delete", "alice").exit_code == 0
    assert closed_within(ws, 5)
    assert browser.get("/api/providers").status_code == 401


def store_conversations(browser, count):
    """Start `count` conversations over the browser's socket, each with one answer."""
    ws = browser.connect()
    for n in range(count):
        ws.send(turn(n, content=f"conversation {n}"))
        assert ws.until_final(n)[-1]["type"] == "done"
    ws.close()


def conversation_count(browser):
    """How many conversations the browser's owner has."""
    return len(browser.get("/api/conversations").json()["conversations"])


def test_deleting_an_account_deletes_its_conversations(app_config, server):
    add_user(app_config)
    add_user(app_config, "bob")
    store_conversations(signed_in(server), 2)
    store_conversations(signed_in(server, "bob"), 1)
    result = webui(app_config, "user", "delete", "alice")
    assert result.exit_code == 0 and "Deleted alice and their conversations: 2." in result.stdout
    again = webui(app_config, "user", "add", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert again.exit_code == 0 and again.stdout == "Added alice.\n"
    assert conversation_count(signed_in(server)) == 0, "a new account of the same name sees nothing of the old one"
    assert conversation_count(signed_in(server, "bob")) == 1


def test_a_new_account_starts_without_what_an_old_one_of_its_name_left(app_config, server):
    # Left by an account deleted before deleting took its conversations along.
    with server.app.app_context():
        db = get_db()
        for n in range(3):
            create_conversation(db, "user:alice", f"left over {n}")
    result = webui(app_config, "user", "add", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:2] == ["Added alice.", "Deleted the conversations an earlier account called alice had left: 3."]
    assert conversation_count(signed_in(server)) == 0


def test_deleting_an_account_stops_its_running_answers(app_config, server, testing_provider):
    add_user(app_config)
    add_user(app_config, "bob")  # so that the server still asks for a session once alice is gone
    ws = signed_in(server).connect()
    ws.send(turn("long", model="slow", content="go on"))
    assert [ws.recv()["type"] for _ in range(2)] == ["start", "delta"]
    assert webui(app_config, "user", "delete", "alice").exit_code == 0
    live = server.app.extensions["webui.stored_answers"]
    deadline = time.monotonic() + 5
    while live.running(lambda turn: turn.owner == "user:alice") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live.running(lambda turn: turn.owner == "user:alice") == []
    assert testing_provider().closed_event.wait(5) and "slow" in testing_provider().closed
