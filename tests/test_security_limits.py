"""Limits: sockets capped per user, per address and in total, requests per minute, and the windows and back-off."""
import time

import requests

from conftest import Visitor, chat, handshake, raw_handshake
from test_security import error_code, get, serve  # noqa: F401 (serve is a fixture)
from webui.access.limits import Backoff, Window
from webui.access.security import count_request, request_key, socket_cap
from webui.errors import UserError


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
