"""Workers when one dies or Redis is away: another interrupts a dead worker's answers, and limits, leases and sign-outs
fall back to each worker alone and are shared again once Redis is back."""
import time
import urllib.request

import pytest

from conftest import raw_handshake, turn
from test_answer_saver import server_log
from test_conversation_restart import owner_cookie
from test_recovery import left_streaming, row
from test_shared_workers import add_users, anonymous_socket, closed_within, signed_in, start, two_servers, wait_for_workers, webui
from test_shared_workers import site  # noqa: F401 (a fixture)
from webui.shared.workers import LEASE_SECONDS, SUSPECT_SECONDS

pytestmark = pytest.mark.both_databases

# A worker's answers are marked interrupted this long after it died, at the latest (and a round or two more).
ORPHANED_SECONDS = LEASE_SECONDS + SUSPECT_SECONDS + 3


def follow(socket, seconds, received):
    """Read delta frames for `seconds`, appending (time received, all text so far) to `received`."""
    text = received[-1][1] if received else ""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = socket.recv()
        if frame["type"] == "delta":
            text += frame["text"]
            received.append((time.monotonic(), text))
    return text


def stays_streaming(app, message_id, seconds):
    """Whether the answer is still streaming after `seconds`, looked at every tenth of a second."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if row(app, message_id)[0] != "streaming":
            return False
        time.sleep(0.1)
    return True


def start_slow_answer(server, browser=None):
    """A stored conversation at `server`, of `browser` or else of a new anonymous one, whose answer streams for about
    forty seconds: (socket, start frame, the Cookie header)."""
    if browser:
        socket, cookie = browser.connect(), browser.cookie_header()
    else:
        cookie = owner_cookie(server.url)
        socket = anonymous_socket(server, cookie)
    socket.send(turn("t", content="go", model="slow"))
    start_frame = socket.recv()
    assert start_frame["type"] == "start"
    return socket, start_frame, cookie


def test_a_killed_workers_answer_is_interrupted_by_another_and_a_restart_ends_none_alive(site):
    app = site.app()
    a = start(site, plain=True)
    b = start(site)
    try:
        socket, start_frame, _ = start_slow_answer(a)
        message_id = start_frame["message_id"]
        received = []
        follow(socket, 1, received)

        b.stop()
        b = start(site)
        assert stays_streaming(app, message_id, ORPHANED_SECONDS), "a worker that restarts leaves a live worker's answer"

        follow(socket, 1, received)
        a.process.kill()
        killed_at = time.monotonic()
        a.process.wait(10)
        shown = [text for at, text in received if at <= killed_at - 0.5][-1]
        deadline = time.monotonic() + ORPHANED_SECONDS + 10
        while row(app, message_id)[0] == "streaming" and time.monotonic() < deadline:
            time.sleep(0.1)
        status, content = row(app, message_id)
        assert status == "interrupted", "the live worker marks the dead one's answer interrupted"
        assert content.startswith(shown), "what was shown half a second before the kill is stored"
        assert received[-1][1].startswith(content)
    finally:
        a.stop()
        b.stop()


def test_an_answer_no_worker_ever_listed_is_interrupted_by_a_server_with_redis(site):
    app, dead = left_streaming(site.data, site.database_url)
    server = start(site)
    try:
        deadline = time.monotonic() + ORPHANED_SECONDS + 10
        while row(app, dead)[0] == "streaming" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert row(app, dead) == ("interrupted", "half an")
    finally:
        server.stop()


def test_a_server_starts_and_answers_before_redis_does_and_takes_its_lease_once_it_answers(site, redis_server):
    redis_server.stop()
    server = start(site)
    try:
        cookie = owner_cookie(server.url)
        socket = anonymous_socket(server, cookie)
        socket.send(turn("t", content="hello there"))
        assert socket.until_final("t")[-1]["type"] == "done"
        redis_server.start()
        wait_for_workers(redis_server, 1)
    finally:
        server.stop()


def redis_outages(server):
    """What a server, once stopped, logged about Redis: "down" for a line saying it cannot be reached, "back" for one
    saying it answers again, any other line as it is."""
    said = {"Redis cannot be reached": "down", "Redis answers again": "back"}
    lines = [line for line in server_log(server) if "Redis" in line]
    return [next((word for words, word in said.items() if words in line), line) for line in lines]


def test_without_redis_answers_stream_and_limits_fall_back_then_sharing_comes_back(site):
    add_users(site, "root", "alice")
    with two_servers(site, WEBUI_MAX_SOCKETS_PER_USER="2") as (a, b):
        check_outage(site, a, b)
        for server in (a, b):
            server.stop()
            # Its limits, lease, publisher and sign-out listener share one record of the outage: told once.
            assert redis_outages(server) == ["down", "back"]


def check_outage(site, a, b):
    """Redis stops while A streams alice's answer, and starts again empty."""
    at_a, at_b = signed_in(a, b)
    socket, start_frame, cookie = start_slow_answer(a, at_a)
    received = []
    follow(socket, 0.5, received)

    site.redis.stop()
    for server in (a, b):
        with urllib.request.urlopen(server.url + "/", timeout=10) as page:
            assert page.status == 200
    shown = len(received)
    follow(socket, 1, received)
    assert len(received) > shown, "the running answer keeps streaming to its socket"
    # Each worker counts its own sockets: B has none of the two that A and B hold together.
    opened = [raw_handshake(b.url, {"Cookie": cookie}) for _ in range(2)]
    for status, sock in opened:
        sock.close()
    assert [status for status, _ in opened] == [101, 101]

    site.redis.start()
    wait_for_workers(site.redis, 2)
    status, held = raw_handshake(b.url, {"Cookie": cookie})
    assert status == 101
    deadline = time.monotonic() + 20
    refused = False
    while not refused and time.monotonic() < deadline:
        # A's lease writes its socket count again at its next renewal; till then B admits the probe.
        time.sleep(0.5)
        status, probe = raw_handshake(b.url, {"Cookie": cookie})
        probe.close()
        refused = status == 429
    held.close()
    assert refused, "once Redis is back the cap counts A's socket again, with no restart"
    assert stays_streaming(site.app(), start_frame["message_id"], ORPHANED_SECONDS), "an empty Redis ends no live answer"

    sockets = [socket, at_b.connect()]
    webui(site, "user", "demote", "alice")
    assert closed_within(sockets, 2), "the workers listen for sign-outs again"
