"""Stopping the server: running answers get a grace period, those still running after it are stored as interrupted
and their pages told so, and every socket closes with 1012 so that pages come back to the next process."""
import json
import os
import re
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect
from simple_websocket import Client, ConnectionClosed

from browser import answers, send, start_counting, wait_until_idle
from conftest import DaemonThread, ServerProcess, Socket, chat, turn
from fake_upstream import closed_port
from test_browser_conversations import page_fetch
from test_cli import clean_env
from test_conversation_restart import get_json, owner_cookie
from test_resume import replayed, text_of

GRACE = 2
SERVERS = {"gunicorn": ["serve"], "development server": []}


def start(tmp_path, providers_dir, command, grace, port=0):
    """Start a server on a data folder of the test's; returns it and the command to start it again."""
    env = clean_env(
        WEBUI_DATA_DIR=str(tmp_path / "data"),
        WEBUI_PROVIDERS_DIR=str(providers_dir),
        WEBUI_PING_INTERVAL="0",
        WEBUI_SHUTDOWN_GRACE_SECONDS=str(grace),
        LANG="C",
    )
    command = [sys.executable, "-m", "webui", "--port", str(port), *command]
    return ServerProcess(command, env=env), lambda: ServerProcess(command, env=env)


def connect(url, cookie):
    """A WebSocket to the server at `url`, as the browser with `cookie`."""
    return Client.connect(url.replace("http", "ws", 1) + "/ws", headers={"Cookie": cookie}, thread_class=DaemonThread)


def until_closed(ws, timeout):
    """Every frame until the server closes the socket, with the time it came; and the close code."""
    frames, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        except ConnectionClosed:
            return frames, ws.close_reason
        if data is not None:
            frames.append((time.monotonic(), json.loads(data)))
    raise AssertionError(f"the socket was still open after {timeout} s")


def until_deltas(ws, request_ids, timeout=10):
    """The frames until each of these requests has had a delta."""
    frames, deadline = [], time.monotonic() + timeout
    while {f["request_id"] for f in frames if f["type"] == "delta"} != set(request_ids):
        data = ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        assert data is not None, "no delta in time"
        frames.append(json.loads(data))
    return frames


def of(request_id, frames):
    """The frames of one request."""
    return [f for f in frames if f["request_id"] == request_id]


@dataclass
class Stopped:
    """What a socket saw of a server stopped by a signal while it answered: every frame, the frames after the signal
    with the seconds since it, the close code; and how to start the server again on the same data."""

    frames: list
    later: list
    code: int
    cookie: str
    again: object


def stop_while_answering(tmp_path, providers_dir, command, grace, requests, signum, after_signal=lambda ws: None):
    """Start a server, send `requests` on one socket and, once each has a delta, send the server `signum`; then
    `after_signal(ws)`, and read until the socket closes and the server has exited."""
    server, again = start(tmp_path, providers_dir, command, grace)
    try:
        cookie = owner_cookie(server.url)
        ws = connect(server.url, cookie)
        for request in requests:
            ws.send(json.dumps(request))
        frames = until_deltas(ws, [request["request_id"] for request in requests])
        os.kill(server.process.pid, signum)
        signalled = time.monotonic()
        after_signal(ws)
        later, code = until_closed(ws, grace + 8)
        assert server.process.wait(10) == 0
    finally:
        server.stop()
    later = [(moment - signalled, frame) for moment, frame in later]
    return Stopped(frames + [frame for _, frame in later], later, code, cookie, again)


@contextmanager
def restarted(again):
    """A stopped server started again on the same data (`again` starts it)."""
    server = again()
    try:
        yield server
    finally:
        server.stop()


def stored_answer(server, cookie, conversation_id):
    """The last message of a conversation, as the API shows it."""
    return get_json(f"{server.url}/api/conversations/{conversation_id}", cookie)["messages"][-1]


@pytest.mark.parametrize("command", SERVERS.values(), ids=SERVERS.keys())
def test_sigterm_gives_answers_a_grace_period_then_stores_them_interrupted_and_closes_for_a_restart(
    tmp_path, providers_dir, command
):
    def too_late(ws):
        """A new answer asked for while the server stops."""
        time.sleep(0.5)
        ws.send(json.dumps(turn("late", model="echo", content="too late")))

    requests = [turn("stored", model="slow", content="go"), chat("plain", model="slow")]
    stopped = stop_while_answering(tmp_path, providers_dir, command, GRACE, requests, signal.SIGTERM, too_late)
    assert stopped.code == 1012
    assert stopped.later[-1][0] < GRACE + 5
    # The answers streamed on through the grace period, then ended as interrupted.
    last_delta = max(moment for moment, frame in stopped.later if frame["type"] == "delta")
    assert GRACE - 0.5 < last_delta < GRACE + 2
    for request_id in ("stored", "plain"):
        final = of(request_id, stopped.frames)[-1]
        assert (final["type"], final["reason"]) == ("done", "interrupted")
    assert [(f["type"], f["code"]) for f in of("late", stopped.frames)] == [("error", "shutting_down")]
    start_frame, shown = of("stored", stopped.frames)[0], text_of(of("stored", stopped.frames))

    with restarted(stopped.again) as server:
        answer = stored_answer(server, stopped.cookie, start_frame["conversation_id"])
        assert (answer["status"], answer["content"]) == ("interrupted", shown)
        page = Socket(connect(server.url, stopped.cookie))
        page.send({"type": "resume", "request_id": "back", "message_id": start_frame["message_id"], "after": 3})
        _start, text, final = replayed(page, "back")
        assert (text, final["reason"]) == (shown, "interrupted")
        page.close()


@pytest.mark.parametrize("command", SERVERS.values(), ids=SERVERS.keys())
def test_an_answer_that_ends_within_the_grace_period_completes(tmp_path, providers_dir, command):
    requests = [turn("short", model="numbered", content="go", options={"max_tokens": 150})]
    stopped = stop_while_answering(tmp_path, providers_dir, command, 10, requests, signal.SIGTERM)
    assert stopped.code == 1012
    assert stopped.later[-1][0] < 5, "the server waited out the grace period though no answer was running"
    assert (stopped.frames[-1]["type"], stopped.frames[-1].get("reason")) == ("done", "complete"), stopped.frames[-3:]
    assert text_of(stopped.frames) == "".join(f"n{n} " for n in range(150))
    with restarted(stopped.again) as server:
        answer = stored_answer(server, stopped.cookie, stopped.frames[0]["conversation_id"])
        assert (answer["status"], answer["content"]) == ("complete", text_of(stopped.frames))


@pytest.mark.parametrize("command", SERVERS.values(), ids=SERVERS.keys())
def test_ctrl_c_interrupts_the_answers_at_once_and_closes_for_a_restart(tmp_path, providers_dir, command):
    requests = [turn("stored", model="slow", content="go")]
    stopped = stop_while_answering(tmp_path, providers_dir, command, 30, requests, signal.SIGINT)
    assert stopped.code == 1012 and stopped.later[-1][0] < 5
    assert (stopped.frames[-1]["type"], stopped.frames[-1]["reason"]) == ("done", "interrupted")
    with restarted(stopped.again) as server:
        answer = stored_answer(server, stopped.cookie, stopped.frames[0]["conversation_id"])
        assert (answer["status"], answer["content"]) == ("interrupted", text_of(stopped.frames))


def test_a_page_sees_the_restart_and_comes_back_to_the_new_process(page, page_errors, tmp_path, providers_dir):
    server, again = start(tmp_path, providers_dir, ["serve"], 1, port=closed_port())
    try:
        start_counting(page, server)
        os.kill(server.process.pid, signal.SIGTERM)
        expect(page.locator("#connection")).to_have_text(re.compile("restarting"))
        expect(answers(page).last).to_contain_text("interrupted")
        shown = answers(page).last.locator(".content").inner_text()
        assert server.process.wait(10) == 0
    finally:
        server.stop()
    with restarted(again):
        expect(page.locator("#connection")).to_have_attribute("data-state", "online")
        _status, body = page_fetch(page, "GET", f"/api/conversations/{page.url.rsplit('/', 1)[1]}")
        stored = json.loads(body)["messages"][-1]
        assert (stored["status"], stored["content"].strip()) == ("interrupted", shown)
        page.select_option("#model", "echo")
        send(page, "still here")
        wait_until_idle(page)
        expect(answers(page).last.locator(".content")).to_have_text("still here")
    # While the server is away, the page's reconnects and requests fail.
    page_errors[:] = [error for error in page_errors if "WebSocket" not in error and "net::ERR_" not in error]
