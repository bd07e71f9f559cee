"""Accounts: `webui user`, signing in and out, sessions that end, brute force slowed, and who may start a server."""
import os
import re
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import click
import pytest
from click.testing import CliRunner
from simple_websocket import ConnectionClosed

from conftest import Browser, ServerProcess, chat, handshake, turn
from test_cli import server_command
from test_cli import clean_env
from webui import create_app
from webui.commands.cli import check_access, main
from webui.secrets import KEY_FILE
from webui.storage import accounts, get_db
from webui.storage.conversations import create_conversation

pytestmark = pytest.mark.both_databases

PASSWORD = "correct horse battery"


def webui(app_config, *args, stdin=None):
    """Run `webui ARGS` in this process, on the test app's data folder."""
    env = {"WEBUI_DATA_DIR": app_config["WEBUI_DATA_DIR"], "WEBUI_DATABASE_URL": app_config.get("WEBUI_DATABASE_URL"),
           "LANG": "C", "LC_ALL": None, "LC_MESSAGES": None}
    return CliRunner().invoke(main, list(args), input=stdin, env=env)


def add_user(app_config, name="alice", password=PASSWORD):
    """Create an account through the command line."""
    result = webui(app_config, "user", "add", name, "--password-stdin", stdin=password + "\n")
    assert result.exit_code == 0, result.output


def closed_within(ws, seconds):
    """Whether the server closes the socket within `seconds`."""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            ws.ws.receive(timeout=0.1)
    except ConnectionClosed:
        return True
    return False


def signed_in(server, name="alice", password=PASSWORD):
    """A browser signed in to the server."""
    browser = Browser(server.url)
    assert browser.login(name, password).status_code == 302
    return browser


def test_user_commands(app_config):
    typed = webui(app_config, "user", "add", "alice", stdin=f"{PASSWORD}\nnot the same\n{PASSWORD}\n{PASSWORD}\n")
    assert typed.exit_code == 0, typed.output
    assert typed.output.count("Password") == 2 and "Added alice." in typed.output
    add_user(app_config, "bob@example.org")
    failures = {
        "already": webui(app_config, "user", "add", "alice", "--password-stdin", stdin=PASSWORD),
        "8 to 1024": webui(app_config, "user", "add", "carol", "--password-stdin", stdin="short"),
        "user name is": webui(app_config, "user", "add", "no spaces", "--password-stdin", stdin=PASSWORD),
        "no user called": webui(app_config, "user", "passwd", "nobody", "--password-stdin", stdin=PASSWORD),
    }
    for words, result in failures.items():
        assert result.exit_code == 1 and words in result.output and "Traceback" not in result.output, words
    assert webui(app_config, "user", "list").stdout.split() == ["alice", "administrator", "bob@example.org", "user"]

    with create_app(app_config).app_context():
        hashes = [h for (h,) in accounts.read("SELECT password_hash FROM users")]
    assert len(hashes) == 2 and all(h.startswith("scrypt:") for h in hashes)
    path = os.path.join(app_config["WEBUI_DATA_DIR"], accounts.FILENAME)
    if not app_config["WEBUI_DATABASE_URL"]:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert PASSWORD.encode() not in open(path, "rb").read()

    assert webui(app_config, "user", "passwd", "alice", "--password-stdin", stdin="another password").exit_code == 0
    assert webui(app_config, "user", "delete", "bob@example.org").exit_code == 0
    last = webui(app_config, "user", "delete", "alice")
    assert last.exit_code == 0 and "No accounts are left" in last.stderr
    assert webui(app_config, "user", "delete", "alice").exit_code == 1
    assert webui(app_config, "user", "list").stdout == ""


def test_with_an_account_every_page_api_and_socket_needs_a_session(app_config, server):
    add_user(app_config)
    anonymous = Browser(server.url)
    for path, target in [("/", "/"), ("/c/abc?x=1", "/c/abc?x=1"), ("/nothing-here", "/nothing-here")]:
        response = anonymous.get(path)
        assert response.status_code == 302, path
        location = urllib.parse.urlsplit(response.headers["Location"])
        assert location.path == "/login" and urllib.parse.parse_qs(location.query) == {"next": [target]}
    for path in ("/api/providers", "/api/conversations"):
        response = anonymous.get(path)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    assert anonymous.http.post(server.url + "/api/check", json={}, headers={"Origin": None}, timeout=10).status_code == 401
    assert handshake(server.url) == 403
    assert handshake(server.url, {"Origin": server.url}) == 403
    assert anonymous.get("/static/style.css").status_code == 200
    page = anonymous.get("/login")
    assert page.status_code == 200 and 'name="password"' in page.text and 'name="csrf_token"' in page.text
    assert "Вход" in anonymous.get("/login", headers={"Accept-Language": "ru"}).text


def test_signing_in_opens_everything_with_a_safe_cookie(app_config, server):
    add_user(app_config)
    browser = Browser(server.url)
    wrong, unknown = browser.login("alice", "not the password"), browser.login("mallory", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong user name or password." in wrong.text and "Wrong user name or password." in unknown.text
    response = browser.login("alice", PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = [c for c in response.raw.headers.getlist("Set-Cookie") if c.startswith("webui_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert browser.get("/").status_code == 200
    assert browser.get("/api/providers").status_code == 200
    ws = browser.connect()
    ws.send(chat("hi", "signed in"))
    assert ws.until_final("hi")[-1]["type"] == "done"
    ws.close()


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "////evil.example/x"]
)
def test_sign_in_never_redirects_to_another_site(app_config, client, target):
    add_user(app_config)
    form = {"username": "alice", "password": PASSWORD, "next": target}
    response = client.post("/login", data=form)
    assert response.status_code == 302 and response.headers["Location"] == "/"


# `next` as it is written in the query string (percent-encoded where a browser would encode), and where the sign-in
# form must then send the browser: "/" for anything that is not plainly a path on this site.
NEXT_TARGETS = {
    "/c/abc?x=1": "/c/abc?x=1",
    "/c/abc%3Fx%3D1": "/c/abc?x=1",
    "%252F%252Fevil.example": "/",
    "/%252F%252Fevil.example": "/%2F%2Fevil.example",
    "/.//evil.example": "/.//evil.example",
    "//evil.example/x": "/",
    "///evil.example/x": "/",
    "////evil.example/x": "/",
    "/%2F%2Fevil.example": "/",
    "%2F%2Fevil.example": "/",
    "/%5Cevil.example": "/",
    "%5C%5Cevil.example": "/",
    "/%5C/evil.example": "/",
    "/%09/evil.example": "/",
    "/%0A/evil.example": "/",
    "/%0D%0ASet-Cookie:%20x=1": "/",
    "%20//evil.example": "/",
    "%00//evil.example": "/",
    "/%E3%80%80/evil.example": "/",
    "https://evil.example/": "/",
    "https:evil.example": "/",
    "javascript:alert(1)": "/",
    "JaVaScRiPt%3Aalert(1)": "/",
    "data:text/html,x": "/",
    "": "/",
}


def browser_target(base, location):
    """Where a browser goes from `base` for this Location: it drops tabs and newlines, trims spaces and controls, and
    reads a backslash as a slash (the WHATWG URL parser)."""
    cleaned = re.sub(r"[\t\n\r]", "", location).strip("\x00- ").replace("\\", "/")
    return urllib.parse.urljoin(base + "/login", cleaned)


def test_every_way_of_writing_another_site_in_next_lands_on_this_one(app_config, server):
    add_user(app_config)
    browser = signed_in(server)
    # Signed in, /login sends the browser straight on to `next`, as it does after signing in.
    locations = {query: browser.get("/login?next=" + query).headers["Location"] for query in NEXT_TARGETS}
    assert locations == NEXT_TARGETS
    ours = urllib.parse.urlsplit(server.url)
    for location in locations.values():
        landed = urllib.parse.urlsplit(browser_target(server.url, location))
        assert (landed.scheme, landed.netloc) == (ours.scheme, ours.netloc), location


def test_guessing_passwords_is_slowed_and_does_not_tell_which_names_exist(app_config, server):
    add_user(app_config)
    browser = Browser(server.url)
    timings = {"alice": [], "nobody": []}
    for n in range(5):
        name = "alice" if n % 2 else "nobody"
        started = time.monotonic()
        response = browser.login(name, f"guess {n}")
        timings[name].append(time.monotonic() - started)
        assert response.status_code == 401
    # An unknown name is checked against a dummy hash, so it takes about as long as a wrong password.
    assert min(timings["nobody"]) > 0.5 * min(timings["alice"])
    blocked = browser.login("alice", PASSWORD)
    assert blocked.status_code == 429 and "try again in" in blocked.text
    assert 1 <= int(blocked.headers["Retry-After"]) <= 30
    assert Browser(server.url).get("/api/providers").status_code == 401, "the right password while blocked did not sign in"


def test_a_burst_of_guesses_is_counted_before_the_passwords_are_checked(app_config, server):
    add_user(app_config)
    guessers = [Browser(server.url) for _ in range(16)]
    tokens = [re.search(r'name="csrf_token" value="([^"]+)"', b.get("/login").text)[1] for b in guessers]
    start = threading.Barrier(len(guessers))

    def guess(n):
        """Send a wrong password at the same moment as every other guesser."""
        form = {"csrf_token": tokens[n], "username": "alice", "password": f"guess {n}"}
        start.wait(timeout=30)
        return guessers[n].http.post(server.url + "/login", data=form, allow_redirects=False, timeout=60)

    with ThreadPoolExecutor(len(guessers)) as pool:
        responses = list(pool.map(guess, range(len(guessers))))
    answers = sorted(
        (r.status_code, "try again in" in r.text, 1 <= int(r.headers.get("Retry-After", 0)) <= 30) for r in responses
    )
    # The address's 5 free guesses were checked; every other one was refused without hashing its password.
    assert answers == [(401, False, False)] * 5 + [(429, True, True)] * 11


def test_a_right_password_takes_its_guess_back(app_config, server):
    add_user(app_config)
    browser = Browser(server.url)
    assert [browser.login("alice", f"guess {n}").status_code for n in range(4)] == [401] * 4
    assert browser.login("alice", PASSWORD).status_code == 302
    # Counted before it was checked, the right password would have been the fifth failure and begun a wait.
    assert Browser(server.url).login("alice", "guess 5").status_code == 401
    assert Browser(server.url).login("alice", PASSWORD).status_code == 429


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


def sign_in_with_test_client(app):
    """Sign in through the test client of `app`; its session cookie."""
    client = app.test_client()
    assert client.post("/login", data={"username": "alice", "password": PASSWORD}).status_code == 302
    return client.get_cookie("webui_session").value


def session_works(app, cookie):
    """Whether `app` accepts a session cookie."""
    client = app.test_client()
    client.set_cookie("webui_session", cookie)
    return client.get("/api/providers").status_code == 200


def test_sessions_survive_a_restart_and_the_key_file_is_private(app_config):
    add_user(app_config)
    cookie = sign_in_with_test_client(create_app(app_config))
    assert session_works(create_app(app_config), cookie)
    key_file = os.path.join(app_config["WEBUI_DATA_DIR"], KEY_FILE)
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_sessions_can_be_signed_with_the_secret_setting(app_config, tmp_path):
    add_user(app_config)
    secret = {"WEBUI_SECRET_KEY": "a long random value for the sessions"}
    cookie = sign_in_with_test_client(create_app({**app_config, **secret}))
    assert not os.path.exists(os.path.join(app_config["WEBUI_DATA_DIR"], KEY_FILE))
    assert session_works(create_app({**app_config, **secret}), cookie)
    assert not session_works(create_app({**app_config, "WEBUI_SECRET_KEY": "another long random value"}), cookie)


def test_a_network_address_without_accounts_lets_nobody_in_unless_no_auth(app_config):
    exposed = create_app({**app_config, "WEBUI_HOST": "0.0.0.0"}).test_client()
    assert exposed.get("/").status_code == 302
    assert exposed.get("/api/providers").status_code == 401
    assert exposed.post("/login", data={"username": "x", "password": "y" * 8}).status_code == 401
    open_lan = create_app({**app_config, "WEBUI_HOST": "0.0.0.0", "WEBUI_NO_AUTH": True}).test_client()
    assert open_lan.get("/").status_code == 200


def test_starting_on_a_network_address_needs_an_account_or_no_auth(app_config):
    lan = {**app_config, "WEBUI_HOST": "0.0.0.0"}
    with pytest.raises(click.ClickException, match="webui user add"):
        check_access(create_app(lan))
    check_access(create_app({**lan, "WEBUI_NO_AUTH": True}))
    add_user(app_config)
    check_access(create_app(lan))
    check_access(create_app(app_config))


@pytest.mark.parametrize("command", [[], ["serve"]], ids=["webui", "webui serve"])
def test_the_command_refuses_a_network_address_without_accounts(tmp_path, command):
    result = subprocess.run(
        [sys.executable, "-m", "webui", "--host", "0.0.0.0", "--port", "0", *command],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(WEBUI_DATA_DIR=str(tmp_path), LANG="C"),
    )
    assert result.returncode == 1
    assert "webui user add" in result.stderr and "--no-auth" in result.stderr
    assert "Traceback" not in result.stderr and "webui is running" not in result.stdout


def test_no_auth_starts_and_warns(tmp_path):
    env = clean_env(WEBUI_DATA_DIR=str(tmp_path), LANG="C")
    server = ServerProcess([sys.executable, "-m", "webui", "--no-auth", "--port", "0"], env=env)
    try:
        assert any("Warning: started with --no-auth" in line for line in server.output)
        with urllib.request.urlopen(server.url + "/", timeout=10) as response:
            assert response.status == 200
    finally:
        server.stop()



def proxied_login(client, name, password, address):
    """Sign in with the test `client` through one trusted proxy, claiming to come from `address`."""
    headers = {"X-Forwarded-For": address}
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login", headers=headers).text)[1]
    form = {"csrf_token": token, "username": name, "password": password}
    return client.post("/login", data=form, headers=headers)


def refused_after_twenty_guesses(guesser, name, network, right=None):
    """Twenty wrong passwords for `name` by the test client `guesser`, each from an address of its own in
    10.`network`.0.0/16, then the right one by `right` (else the guesser): its refusal, which asks for a wait."""
    for n in range(20):
        assert proxied_login(guesser, name, f"guess {n}", f"10.{network}.{n}.1").status_code == 401
    refused = proxied_login(right or guesser, name, PASSWORD, f"10.{network}.99.1")
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    return refused


def test_guesses_from_many_addresses_meet_a_limit_per_account(app_config):
    add_user(app_config)
    add_user(app_config, "bob")
    # Behind one trusted proxy each guess can claim a new address, as an attacker with a whole IPv6 /48 could.
    app = create_app({**app_config, "WEBUI_TRUSTED_PROXIES": 1})
    client = app.test_client()

    assert "this account" in refused_after_twenty_guesses(client, "alice", 0).text
    russian = client.post("/login?lang=ru", data={"username": "alice"}, headers={"X-Forwarded-For": "10.0.98.1"})
    assert russian.status_code == 429 and "учётную запись" in russian.text
    # Another account, from a fresh address, is not held up by alice's guesses.
    assert proxied_login(client, "bob", PASSWORD, "10.0.100.1").status_code == 302


def test_names_no_account_can_have_are_counted_as_one_so_they_cannot_fill_memory(app_config):
    """The per-account back-off keeps every name it counts: distinct huge names, each from a fresh address, would each
    be kept (half a megabyte apiece); they share one count instead, and no real account waits for them."""
    add_user(app_config)
    client = create_app({**app_config, "WEBUI_TRUSTED_PROXIES": 1}).test_client()

    statuses = [proxied_login(client, f"{n:03d}" + "x" * 10_000, "guess", f"10.1.{n}.1").status_code for n in range(21)]
    assert statuses == [401] * 20 + [429]
    assert proxied_login(client, "alice", PASSWORD, "10.1.99.1").status_code == 302
