"""Several `webui` processes sharing one database (SQLite in one data folder, or PostgreSQL) and one Redis: sign-outs
and limits hold across them, and `--workers`."""
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from simple_websocket import Client

from conftest import Browser, DaemonThread, ServerProcess, Socket, chat, raw_handshake
from databases import database_settings
from test_cli import clean_env, server_command
from test_conversation_restart import owner_cookie
from test_recovery import database_app
from webui.access.auth import get_access

pytestmark = pytest.mark.both_databases

PASSWORD = "correct horse battery"


@dataclass
class Site:
    """What the servers of a test share: a data folder, its database (the folder's SQLite file, or PostgreSQL), the
    providers and one Redis."""

    data: Path
    providers: Path
    redis: object
    database_url: str | None

    def settings(self):
        """The settings every server and command of the site has."""
        return {"WEBUI_REDIS_URL": self.redis.url, **database_settings(self.database_url)}

    def app(self):
        """An app on the site's database, to read and write it behind the servers' backs."""
        return database_app(self.data, self.database_url)


@pytest.fixture
def site(tmp_path, providers_dir, redis_server, database_url):
    """The test's Site."""
    return Site(tmp_path / "data", providers_dir, redis_server, database_url)


def add_users(site, *names):
    """Accounts in the site's database; the first is an administrator, and so are the others (to be demoted)."""
    app = site.app()
    with app.app_context():
        for name in names:
            get_access().users.add(name, PASSWORD, admin=True)


def start(site, *args, plain=False, **settings):
    """A server of the site: `webui serve *args`, or if `plain` the plain `webui` (one process, gevent's server)."""
    words = args if plain else ("serve", *args)
    command, env = server_command(site.data, site.providers, *words, **site.settings(), **settings)
    return ServerProcess(command, env=env)


def webui(site, *args, stdin=None):
    """Run a `webui` command on the site."""
    env = clean_env(WEBUI_DATA_DIR=str(site.data), **site.settings())
    done = subprocess.run([sys.executable, "-m", "webui", *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done


def closed_within(sockets, seconds):
    """Whether every one of `sockets` (conftest.Socket) was closed by the server within `seconds`."""
    deadline = time.monotonic() + seconds
    while any(s.ws.connected for s in sockets) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not any(s.ws.connected for s in sockets)


def live_workers(redis_server):
    """How many workers hold a lease in Redis now."""
    client = redis.Redis.from_url(redis_server.url, socket_timeout=2)
    try:
        return sum(1 for worker in client.smembers("webui:workers") if client.exists(b"webui:worker:" + worker))
    finally:
        client.close()


def wait_for_workers(redis_server, count, seconds=20):
    """Wait (bounded) until `count` workers hold a lease."""
    deadline = time.monotonic() + seconds
    while live_workers(redis_server) != count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live_workers(redis_server) == count


def signed_in(*servers, password=PASSWORD):
    """alice's browser signed in at the first server; Browsers at each server that share its cookies."""
    first = Browser(servers[0].url)
    assert first.login("alice", password).status_code == 302
    browsers = [first]
    for server in servers[1:]:
        browser = Browser(server.url)
        browser.http = first.http
        browsers.append(browser)
    return browsers


@contextmanager
def two_servers(site, **settings):
    """Two `webui serve` processes of the site, both holding their lease; stopped at the end."""
    servers = []
    try:
        servers.append(start(site, **settings))
        servers.append(start(site, **settings))
        wait_for_workers(site.redis, 2)
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_demotion_sign_out_password_and_deletion_close_the_sockets_on_every_worker(site):
    add_users(site, "root", "alice")
    with two_servers(site) as (a, b):
        at_a, at_b = signed_in(a, b)
        sockets = [at_a.connect(), at_b.connect()]
        webui(site, "user", "demote", "alice")
        # A demotion ends no session: only the message reaches the sockets.
        assert closed_within(sockets, 2), "a demotion closes the user's sockets on every worker"

        sockets = [at_a.connect(), at_b.connect()]
        assert at_b.post("/logout", headers={"Origin": b.url}).status_code == 302
        assert closed_within(sockets, 2), "signing out on one worker closes the sockets on the other"

        at_a, at_b = signed_in(a, b)
        sockets = [at_a.connect(), at_b.connect()]
        webui(site, "user", "passwd", "alice", "--password-stdin", stdin="another long password\n")
        assert closed_within(sockets, 2)

        at_a, at_b = signed_in(a, b, password="another long password")
        sockets = [at_a.connect(), at_b.connect()]
        webui(site, "user", "delete", "alice")
        assert closed_within(sockets, 2)


def test_socket_cap_request_rate_and_sign_in_back_off_hold_across_workers(site):
    add_users(site, "alice")
    with two_servers(site, WEBUI_MAX_SOCKETS_PER_USER="2", WEBUI_REQUESTS_PER_MINUTE="3") as (a, b):
        check_cap_and_rate(a, b)


def check_cap_and_rate(a, b):
    """alice's third socket and fourth request of the minute are refused, whichever worker gets them, and so is the
    sixth failed sign-in from one address."""
    at_a, at_b = signed_in(a, b)
    first, second = at_a.connect(), at_b.connect()
    for server in (a, b):
        status, sock = raw_handshake(server.url, {"Cookie": at_a.cookie_header()})
        sock.close()
        assert status == 429, "a third socket of the user is refused by either worker"

    outcomes = []
    for socket, request_id in [(first, "r1"), (second, "r2"), (first, "r3"), (second, "r4")]:
        socket.send(chat(request_id))
        outcomes.append(socket.until_final(request_id)[-1])
    assert [frame["type"] for frame in outcomes[:3]] == ["done"] * 3, outcomes
    assert outcomes[3]["code"] == "rate_limited", "the fourth request of the minute, on either worker, is refused"

    guesses = [Browser(server.url).login("mallory", "a wrong password") for server in (a, b, a, b, a, b)]
    assert [guess.status_code for guess in guesses] == [401] * 5 + [429], "the sign-in back-off counts both workers' failures"


def anonymous_socket(server, cookie):
    """A WebSocket to `server` of the browser whose identity cookie is `cookie` (a Cookie header value)."""
    url = server.url.replace("http", "ws", 1) + "/ws"
    return Socket(Client.connect(url, headers={"Cookie": cookie}, thread_class=DaemonThread))


def test_serve_refuses_several_workers_without_redis(tmp_path, providers_dir):
    command, env = server_command(tmp_path / "data", providers_dir, "serve", "--workers", "2")
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "WEBUI_REDIS_URL" in refused.stderr and "resume" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_serve_with_two_workers_and_redis_serves_pages_and_sockets(site, redis_server):
    server = start(site, "--workers", "2")
    try:
        wait_for_workers(redis_server, 2)
        for _ in range(4):
            with urllib.request.urlopen(server.url + "/", timeout=10) as page:
                assert page.status == 200
        sockets = []
        # The kernel hands each connection to one of the workers, and an idle one may win every accept for a while:
        # sockets open a few at once (each few a browser of its own, under the per-user cap) till both hold some.
        deadline = time.monotonic() + 30
        while workers_holding_sockets(redis_server) < 2 and len(sockets) < 48 and time.monotonic() < deadline:
            sockets += open_together(server, owner_cookie(server.url), 4)
        assert workers_holding_sockets(redis_server) == 2
        for n, socket in enumerate(sockets):
            socket.send(chat(f"r{n}", "hello there"))
            assert socket.until_final(f"r{n}")[-1]["type"] == "done"
    finally:
        server.stop()


def open_together(server, cookie, count):
    """`count` sockets of the browser whose identity cookie is `cookie`, opened at the same time."""
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: anonymous_socket(server, cookie), range(count)))


def workers_holding_sockets(redis_server):
    """How many workers count open sockets in Redis now."""
    client = redis.Redis.from_url(redis_server.url, socket_timeout=2)
    try:
        hashes = client.keys("webui:worker:*:sockets")
        return sum(1 for key in hashes if any(int(count) > 0 for count in client.hvals(key)))
    finally:
        client.close()
