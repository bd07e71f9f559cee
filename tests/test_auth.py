"""Accounts: `webui user`, signing in, where it sends the browser, sessions that last, and who may start a server."""
import os
import re
import stat
import subprocess
import sys
import urllib.parse
import urllib.request

import click
import pytest
from click.testing import CliRunner

from conftest import Browser, ServerProcess, chat, handshake
from test_cli import clean_env
from webui import create_app
from webui.commands.cli import check_access, main
from webui.secrets import KEY_FILE
from webui.storage import accounts

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
