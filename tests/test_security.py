"""Host, Origin and CSRF checks, security headers, caching, body limits, errors, proxies: against a running server."""
import pytest
import requests

from conftest import Browser, LiveServer, handshake
from webui import create_app
from webui.access.security import CSP


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
