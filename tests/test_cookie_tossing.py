"""Cookie tossing: a request carrying our identity or session cookie twice is refused, and the planted copy removed."""
from http.cookies import SimpleCookie

import pytest
import requests

from conftest import Browser, LiveServer, Visitor, chat, raw_handshake, turn
from test_auth import add_user, signed_in
from webui import create_app

MINE, PLANTED = "A" * 22, "B" * 22


def get(server, path, cookie, **headers):
    """GET `path` with this raw Cookie header, not following redirects."""
    return requests.get(server.url + path, headers={"Cookie": cookie, **headers}, allow_redirects=False, timeout=10)


def expired(response):
    """(name, path, domain) of every cookie the response tells the browser to drop."""
    dropped = set()
    for header in response.raw.headers.getlist("Set-Cookie"):
        for name, morsel in SimpleCookie(header).items():
            if morsel["max-age"] == "0":
                dropped.add((name, morsel["path"], morsel["domain"]))
    return dropped


def test_a_page_with_two_identity_cookies_is_refused_and_the_planted_one_dropped(server):
    response = get(server, "/c/abc", f"webui_owner={PLANTED}; webui_owner={MINE}")
    assert response.status_code == 400 and response.headers["Content-Type"].startswith("text/html")
    assert "more than once" in response.text and "webui_owner" in response.text and 'href="/c/abc"' in response.text
    assert response.headers["Cache-Control"] == "no-store"
    # Every path narrower than ours ("/") that the planted one can have and still be sent here; never "/" itself.
    assert expired(response) == {("webui_owner", path, "") for path in ("/c", "/c/", "/c/abc")}
    russian = get(server, "/c/abc", f"webui_owner={PLANTED}; webui_owner={MINE}", **{"Accept-Language": "ru"})
    assert russian.status_code == 400 and "более одного раза" in russian.text and "webui_owner" in russian.text


@pytest.mark.parametrize("name", ["webui_owner", "webui_session"])
def test_the_api_and_the_socket_refuse_two_cookies_of_one_name(server, name):
    cookie = f"{name}={PLANTED}; webui_lang=en; {name}={MINE}"
    response = get(server, "/api/conversations", cookie)
    assert response.status_code == 400 and response.json()["error"]["code"] == "cookie_conflict"
    assert name in response.json()["error"]["message"]
    assert expired(response) == {(name, path, "") for path in ("/api", "/api/", "/api/conversations")}
    status, sock = raw_handshake(server.url, {"Cookie": cookie})
    sock.close()
    assert status == 400
    # A name on the Host header can be a cookie's Domain, so the copy set for it is dropped too.
    named = get(server, "/ws", cookie, Host=f"localhost:{server.port}", Upgrade="websocket")
    assert named.status_code == 400 and named.json()["error"]["code"] == "cookie_conflict"
    assert expired(named) == {(name, "/ws", ""), (name, "/ws", "localhost")}


def test_behind_a_prefix_the_session_cookies_own_path_is_the_prefix(app_config):
    proxied = LiveServer(create_app({**app_config, "WEBUI_TRUSTED_PROXIES": 1}))
    try:
        cookie = f"webui_session={PLANTED}; webui_session={MINE}"
        response = get(proxied, "/ws", cookie, **{"X-Forwarded-Prefix": "/chat", "Upgrade": "websocket"})
        assert response.status_code == 400 and "“/chat”" in response.json()["error"]["message"]
        assert expired(response) == {("webui_session", "/chat/", ""), ("webui_session", "/chat/ws", "")}
        cookie += f"; webui_owner={MINE}; webui_owner={PLANTED}"
        both = get(proxied, "/ws", cookie, **{"X-Forwarded-Prefix": "/chat"})
        dropped = {(name, path) for name, path, _domain in expired(both)}
        assert dropped == {("webui_session", "/chat/"), ("webui_session", "/chat/ws")} | {
            ("webui_owner", path) for path in ("/chat", "/chat/", "/chat/ws")
        }
    finally:
        proxied.stop()


def test_one_cookie_of_each_name_and_repeated_other_cookies_are_fine(server):
    assert get(server, "/", f"webui_owner={MINE}; other=1; other=2").status_code == 200
    assert get(server, "/static/style.css", f"webui_owner={PLANTED}; webui_owner={MINE}").status_code == 200


def test_a_browser_recovers_from_a_planted_identity_and_keeps_its_conversations(server):
    visitor = Visitor(server)
    ws = visitor.connect()
    ws.send(turn("mine", content="my own words"))
    assert ws.until_final("mine")[-1]["type"] == "done"
    ws.close()
    browser = Browser(server.url)
    browser.http.cookies.set("webui_owner", visitor.http.get_cookie("webui_owner").value, domain="127.0.0.1", path="/")
    assert len(browser.get("/api/conversations").json()["conversations"]) == 1
    # Another port of this host plants its identity for the API only, where the browser sends it first.
    browser.http.cookies.set("webui_owner", PLANTED, domain="127.0.0.1", path="/api")
    refused = browser.get("/api/conversations")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "cookie_conflict"
    assert [c.path for c in browser.http.cookies if c.name == "webui_owner"] == ["/"]
    assert len(browser.get("/api/conversations").json()["conversations"]) == 1


def test_a_planted_session_on_the_socket_is_refused_then_dropped(app_config, server):
    add_user(app_config)
    victim, planter = signed_in(server), signed_in(server)
    # The planter's own valid session, set for the socket's path only: the victim would chat as the planter.
    victim.http.cookies.set("webui_session", planter.http.cookies.get("webui_session"), domain="127.0.0.1", path="/ws")
    status, sock = raw_handshake(server.url, {"Cookie": victim.cookie_header()})
    sock.close()
    assert status == 400
    refused = victim.get("/ws", headers={"Upgrade": "websocket"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "cookie_conflict"
    # The browser drops the copy under /ws on the refusal's word, and its own session opens the socket again.
    assert [c.path for c in victim.http.cookies if c.name == "webui_session"] == ["/"]
    ws = victim.connect()
    ws.send(chat("again"))
    assert ws.until_final("again")[-1]["type"] == "done"
    ws.close()
