"""Host, Origin and CSRF checks, security headers, body limits and errors, proxies: against a running server."""
import json
import time

import pytest
import requests

from conftest import Browser, LiveServer, Visitor, chat, handshake, raw_handshake
from webui import create_app
from webui.access.limits import Backoff, Window
from webui.access.security import CSP, count_request, request_key, socket_cap
from webui.errors import UserError

CANARY = "canary-5f0c2a9e71d84b36"
CANARY_MODULE = '''
url = "http://127.0.0.1/canary"
model = ["ok", "leaky"]
supports_stream = True
needs_auth = True


def _create_completion(model, messages, stream, auth=None, **kwargs):
    if model == "leaky":
        raise RuntimeError("upstream rejected the key " + auth)
    yield "fine"
'''


@pytest.fixture
def serve(app_config):
    """Start servers with extra settings; all are stopped when the test ends."""
    servers = []

    def start(**settings):
        """A running server for the test app with these settings on top."""
        servers.append(LiveServer(create_app({**app_config, **settings})))
        return servers[-1]

    yield start
    for live in servers:
        live.stop()


def get(server, path, **headers):
    """GET a path with these headers, not following redirects."""
    return requests.get(server.url + path, headers=headers, allow_redirects=False, timeout=10)


def error_code(response):
    """The code of a JSON error answer."""
    return response.json()["error"]["code"]


FOREIGN_HOSTS = ["evil.example", "evil.example:{port}", "127.0.0.1.nip.io:{port}", "a b", "localhost@evil.example", ""]
OWN_HOSTS = ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "LOCALHOST", "127.0.0.1:80", "[0:0::1]"]


def test_a_foreign_host_gets_421_on_pages_api_static_and_sockets(server):
    for host in FOREIGN_HOSTS:
        host = host.format(port=server.port)
        for path in ("/", "/api/providers", "/static/style.css", "/login", "/nothing-here"):
            response = get(server, path, Host=host)
            assert response.status_code == 421 and error_code(response) == "misdirected_request", (host, path)
            assert response.headers["Content-Security-Policy"] == CSP
        assert handshake(server.url, {"Host": host}) == 421, host


def test_the_servers_own_names_with_any_port_are_served(server):
    for host in OWN_HOSTS:
        assert get(server, "/", Host=host.format(port=server.port)).status_code == 200, host
    assert handshake(server.url, {"Host": f"localhost:{server.port}"}) == 101


def test_more_names_can_be_allowed(serve):
    server = serve(WEBUI_ALLOWED_HOSTS="chat.lan, other.lan")
    assert get(server, "/", Host="chat.lan").status_code == 200
    assert get(server, "/", Host="evil.lan").status_code == 421


ORIGINS = [
    (None, 101),
    ("http://127.0.0.1:{port}", 101),
    ("http://evil.example", 403),
    ("http://127.0.0.1:{port}.evil.example", 403),
    ("null", 403),
    ("http://localhost:{port}", 403),
    ("https://127.0.0.1:{port}", 403),
    ("file://", 403),
]


def test_the_socket_handshake_checks_the_origin_before_upgrading(server):
    for origin, status in ORIGINS:
        headers = {} if origin is None else {"Origin": origin.format(port=server.port)}
        assert handshake(server.url, headers) == status, origin


def test_more_origins_can_be_allowed(serve):
    server = serve(WEBUI_ALLOWED_ORIGINS=["https://chat.example.org"])
    assert handshake(server.url, {"Origin": "https://chat.example.org"}) == 101
    assert handshake(server.url, {"Origin": "https://chat.example.org:8443"}) == 403


def test_state_changing_requests_need_our_origin_and_the_csrf_token(server):
    browser = Browser(server.url)
    body = {"providers": ["testing"]}
    assert browser.post("/api/check", json=body).status_code == 200
    refused = [
        browser.http.post(server.url + "/api/check", json=body, timeout=10),
        browser.http.post(server.url + "/api/check", json=body, headers={"X-CSRF-Token": "forged"}, timeout=10),
        browser.post("/api/check", json=body, headers={"Origin": "http://evil.example"}),
        browser.post("/api/check", json=body, headers={"Origin": "null"}),
    ]
    assert [r.status_code for r in refused] == [403] * 4
    assert [error_code(r) for r in refused] == ["csrf_failed", "csrf_failed", "forbidden_origin", "forbidden_origin"]
    # A client that is no browser sends no Origin and, with no accounts, needs no token: it cannot be a forged request.
    assert requests.post(server.url + "/api/check", json=body, timeout=10).status_code == 200


def test_security_headers_are_on_every_response(serve):
    server = serve(PROPAGATE_EXCEPTIONS=False)
    server.app.add_url_rule("/api/boom", "boom", lambda: 1 / 0)
    responses = {
        "page": get(server, "/"),
        "static": get(server, "/static/style.css"),
        "api": get(server, "/api/providers"),
        "not found": get(server, "/api/nothing"),
        "method": get(server, "/api/check"),
        "host": get(server, "/", Host="evil.example"),
        "origin": requests.post(server.url + "/api/check", headers={"Origin": "null"}, timeout=10),
        "too large": requests.post(server.url + "/api/check", data=b"x" * (9 * 1024 * 1024), timeout=30),
        "server error": get(server, "/api/boom"),
    }
    for name, response in responses.items():
        headers = response.headers
        assert headers.get("Content-Security-Policy") == CSP, name
        assert "'unsafe-inline'" not in CSP.split("script-src")[1].split(";")[0]
        assert headers.get("X-Content-Type-Options") == "nosniff", name
        assert headers.get("X-Frame-Options") == "DENY", name
        assert headers.get("Referrer-Policy") == "same-origin", name
    assert responses["too large"].status_code == 413 and error_code(responses["too large"]) == "too_large"


def test_pages_and_api_answers_are_never_stored_but_static_files_may_be(server):
    # A page carries the CSRF token and the conversation's text: no cache, shared or the browser's own, may keep it.
    paths = ("/", "/c/nothing", "/login", "/nothing-here", "/api/providers", "/api/conversations", "/api/nothing")
    cached = {path: get(server, path).headers.get("Cache-Control") for path in paths}
    assert cached == dict.fromkeys(paths, "no-store")
    assert get(server, "/", Host="evil.example").headers.get("Cache-Control") == "no-store"
    for path in ("/static/style.css", "/static/app.js", "/static/vendor/"):
        assert "no-store" not in get(server, path).headers.get("Cache-Control", ""), path


def test_a_server_error_is_json_without_a_trace(serve, caplog):
    server = serve(PROPAGATE_EXCEPTIONS=False)

    def boom():
        """Fail with a message that must stay in the log."""
        raise RuntimeError("internal detail 7f3a")

    server.app.add_url_rule("/api/boom", "boom", boom)
    server.app.add_url_rule("/boom", "page_boom", boom)
    for path in ("/api/boom", "/boom"):
        response = get(server, path)
        assert response.status_code == 500 and error_code(response) == "internal_error"
        assert "internal detail" not in response.text and "Traceback" not in response.text
    assert "internal detail 7f3a" in caplog.text


def test_a_request_body_over_the_limit_gets_413_json(serve):
    server = serve(WEBUI_MAX_BODY_BYTES=1024)
    response = requests.post(server.url + "/api/presets", data=b"[" + b" " * 2048 + b"]", timeout=10)
    assert response.status_code == 413 and error_code(response) == "too_large"
    assert "1 KiB" in response.json()["error"]["message"]


def test_forwarded_headers_are_ignored_unless_the_proxy_is_trusted(serve):
    forwarded = {"X-Forwarded-Prefix": "/chat", "X-Forwarded-Host": "chat.example.org", "X-Forwarded-Proto": "https"}
    plain = serve()
    page = get(plain, "/", **forwarded)
    assert page.status_code == 200
    assert 'href="/static/style.css"' in page.text and "/chat/" not in page.text
    assert "Secure" not in page.headers["Set-Cookie"]

    proxied = serve(WEBUI_TRUSTED_PROXIES=1, WEBUI_ALLOWED_HOSTS=["chat.example.org"])
    page = get(proxied, "/", **forwarded, **{"X-Forwarded-For": "203.0.113.9"})
    assert page.status_code == 200
    assert 'href="/chat/static/style.css"' in page.text
    session_cookie = [c for c in page.raw.headers.getlist("Set-Cookie") if c.startswith("webui_session=")][0]
    assert "Secure" in session_cookie and "Path=/chat" in session_cookie and "HttpOnly" in session_cookie
    # The Host check looks at the name the proxy was asked for.
    assert get(proxied, "/", **{**forwarded, "X-Forwarded-Host": "evil.example"}).status_code == 421
    origin = {"Origin": "https://chat.example.org", "X-Forwarded-Host": "chat.example.org", "X-Forwarded-Proto": "https"}
    assert handshake(proxied.url, origin) == 101
    assert handshake(plain.url, origin) == 403


def test_sockets_are_capped_per_user_and_in_total(serve):
    server = serve(WEBUI_MAX_SOCKETS_PER_USER=2)
    browser = {"Cookie": "webui_owner=" + Visitor(server).http.get_cookie("webui_owner").value}
    first, second = server.connect(browser), server.connect(browser)
    assert handshake(server.url, browser) == 429
    first.close()
    assert wait_for_handshake(server.url, browser) == 101
    second.close()

    crowded = serve(WEBUI_CONNECTIONS=4)
    assert socket_cap(4) == 2
    sockets = [crowded.connect(), crowded.connect()]
    assert handshake(crowded.url) == 503
    assert get(crowded, "/").status_code == 200
    for ws in sockets:
        ws.close()


def wait_for_handshake(url, headers=None, seconds=5.0):
    """Retry a handshake while the server is still releasing a closed socket's place; the last status."""
    deadline = time.monotonic() + seconds
    status = handshake(url, headers)
    while status != 101 and time.monotonic() < deadline:
        time.sleep(0.05)
        status = handshake(url, headers)
    return status


def test_sockets_without_the_browsers_cookie_do_not_lock_the_browser_out(server, visitor):
    # Any process on this machine can open sockets from the browser's address, but not with the browser's cookie.
    others = [raw_handshake(server.url) for _ in range(16)]
    try:
        assert [status for status, _sock in others] == [101] * 16
        ws = visitor.connect()
        ws.send(chat("mine"))
        assert ws.until_final("mine")[-1]["type"] == "done"
    finally:
        for _status, sock in others:
            sock.close()


def test_sockets_of_nobody_signed_in_are_capped_per_address(serve):
    server = serve(WEBUI_MAX_SOCKETS_PER_USER=2, WEBUI_MAX_SOCKETS_PER_ADDRESS=3)
    browser = {"Cookie": "webui_owner=" + Visitor(server).http.get_cookie("webui_owner").value}
    held = [raw_handshake(server.url, browser) for _ in range(2)] + [raw_handshake(server.url)]
    try:
        assert [status for status, _sock in held] == [101] * 3
        # The browser is at its own cap, and the address at its cap, whatever cookie a newcomer brings.
        assert [handshake(server.url, browser), handshake(server.url)] == [429, 429]
        refused = requests.get(server.url + "/ws", headers={"Upgrade": "websocket"}, timeout=10)
        assert error_code(refused) == "rate_limited"
    finally:
        for _status, sock in held:
            sock.close()
    assert wait_for_handshake(server.url) == 101


@pytest.fixture
def canary_server(app_config, providers_dir, serve):
    """A server with a drop-in provider that needs a key, given the canary as its key."""
    (providers_dir / "canary.py").write_text(CANARY_MODULE)
    return serve(WEBUI_PROVIDER_KEYS={"canary": CANARY}, PROPAGATE_EXCEPTIONS=False)


def leaks(texts):
    """The texts that contain the canary key, cut short."""
    return [text[:300] for text in texts if CANARY in text]


def test_a_canary_key_never_reaches_a_page_an_answer_a_frame_or_the_log(canary_server, caplog):
    browser = Browser(canary_server.url)
    paths = ("/", "/c/nothing", "/login", "/api/providers", "/api/conversations", "/nope")
    seen = [browser.get(path).text for path in paths]
    seen += [browser.get("/static/" + name).text for name in ("style.css", "app.js")]
    seen.append(browser.post("/api/check", json={"providers": ["canary"]}).text)
    ws = browser.connect()
    ws.send(chat("ok", provider="canary", model="ok"))
    seen.append(json.dumps(ws.until_final("ok")))
    ws.close()
    assert '"canary"' in seen[3] and "fine" in seen[-1], "the provider was listed and answered"
    assert leaks(seen + [caplog.text]) == []


def test_a_provider_error_that_quotes_its_key_does_not_leak_it(canary_server, caplog):
    ws = Browser(canary_server.url).connect()
    ws.send(chat("leaky", provider="canary", model="leaky"))
    frames = ws.until_final("leaky")
    ws.close()
    assert frames[-1]["code"] == "provider_error"
    assert leaks([json.dumps(frames), caplog.text]) == []


def test_a_key_with_quotes_and_backslashes_is_redacted_in_the_log_too(app_config, providers_dir, serve, caplog):
    # repr() of the error would write it as we\'ird"key\\…: the log line must not be built from repr.
    key = 'we\'ird"key\\' + CANARY
    (providers_dir / "canary.py").write_text(CANARY_MODULE)
    server = serve(WEBUI_PROVIDER_KEYS={"canary": key}, PROPAGATE_EXCEPTIONS=False)
    ws = Browser(server.url).connect()
    ws.send(chat("leaky", provider="canary", model="leaky"))
    frames = ws.until_final("leaky")
    ws.close()
    assert frames[-1]["code"] == "provider_error" and "[redacted]" in frames[-1]["message"]
    assert "provider canary failed" in caplog.text
    assert leaks([json.dumps(frames), caplog.text]) == []


def test_the_request_rate_limit(app):
    def counted(owner):
        """Whether a request of `owner` is counted, or refused with a wait."""
        try:
            count_request(request_key(owner))
        except UserError as refused:
            return refused.code, 1 <= refused.details["retry_after"] <= 60
        return True

    with app.test_request_context("/ws"):
        app.extensions["webui.requests"].limit = 3
        assert [counted("anon:x") for _ in range(4)] == [True, True, True, ("rate_limited", True)]
        # Anonymous owners are counted by address: a fresh cookie does not buy a fresh allowance.
        assert counted("anon:y") == ("rate_limited", True)


def test_chat_requests_over_the_rate_get_rate_limited(serve):
    server = serve(WEBUI_REQUESTS_PER_MINUTE=2)
    ws = server.connect()
    for n in range(2):
        ws.send(chat(n))
        assert ws.until_final(n)[-1]["type"] == "done"
    ws.send(chat("third"))
    error = ws.until_final("third")[-1]
    assert error["type"] == "error" and error["code"] == "rate_limited"
    ws.close()


def test_windows_and_backoff_with_a_clock():
    now = [1000.0]
    window = Window(2, 60, clock=lambda: now[0])
    assert [window.hit("a"), window.hit("a"), window.hit("a"), window.hit("b")] == [True, True, False, True]
    now[0] += 61
    assert window.hit("a")

    backoff = Backoff(free=5, window=60, first_wait=30, longest=900, clock=lambda: now[0])
    for _ in range(4):
        assert backoff.attempt("x") is not None
    assert backoff.wait("x") == 0 and backoff.wait("y") == 0
    fifth = backoff.attempt("x")
    assert backoff.wait("x") == 30 and backoff.attempt("x") is None, "counted before it is checked"
    backoff.forgive(fifth)
    assert backoff.wait("x") == 0, "a right password takes its count back, and the wait it began"
    waits = []
    for _ in range(7):
        # Try until the client is made to wait (at most `free` times), then sit the wait out.
        for _ in range(5):
            if backoff.attempt("x") is None:
                break
        waits.append(backoff.wait("x"))
        now[0] += waits[-1]
    assert waits == [30, 60, 120, 240, 480, 900, 900]
    now[0] += 901
    backoff.attempt("x")
    assert backoff.wait("x") == 0, "a client quiet for the longest wait starts afresh"
