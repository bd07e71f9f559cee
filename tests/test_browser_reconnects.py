"""Stored conversations in a real browser when the socket drops or the server restarts, on SQLite and on PostgreSQL: the
page reconnects and the answer comes back whole, or interrupted as stored."""
import json
import re
import threading

import pytest
from browser import answers, start_counting, wait_until_idle
from playwright.sync_api import expect

from test_browser_conversations import page_fetch

pytestmark = pytest.mark.both_databases


def test_a_dropped_socket_resumes_the_answer_without_losing_text(page, server, page_errors):
    """When the WebSocket drops mid-answer the page says so, reconnects, resumes, and no chunk is lost or doubled."""
    routes = []

    def forward(route):
        """Pass the socket through to the server, keeping hold of it to cut it later."""
        routes.append((route, route.connect_to_server()))

    page.route_web_socket(re.compile(r"/ws$"), forward)
    start_counting(page, server)
    route, upstream = routes[0]
    route.close()
    upstream.close()
    expect(page.locator("#connection")).to_have_attribute("data-state", "offline")
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    assert len(routes) == 2
    expect(answers(page).last).to_contain_text("tick60", timeout=10_000)
    page.click("#stop")
    wait_until_idle(page)
    ticks = answers(page).last.locator(".content").inner_text().split()
    assert ticks == [f"tick{n}" for n in range(len(ticks))]
    page_errors[:] = [error for error in page_errors if "WebSocket" not in error]


def test_an_answer_that_ends_while_the_page_is_away_comes_back_whole(page, server, page_errors, monkeypatch):
    """The socket drops mid-answer and the answer ends before the page is back: the page replaces what it had with
    the stored text, which comes in many small frames, and shows how the answer ended."""
    monkeypatch.setattr("webui.chat.replay.PIECE_CHARS", 7)
    routes = []

    def forward(route):
        """Pass the socket through; the answer is stopped on the server before the page's second socket opens."""
        if routes:
            with server.app.app_context():
                for stream in server.app.extensions["webui.stored_answers"].running(lambda turn: True):
                    stream.finish("stopped")
        routes.append((route, route.connect_to_server()))

    page.route_web_socket(re.compile(r"/ws$"), forward)
    start_counting(page, server)
    # What the page shows must come from the replay, not from reading the conversation again once it ends.
    conversation = re.compile(r"/api/conversations/[\w-]+$")
    page.route(conversation, lambda request: request.abort())
    route, upstream = routes[0]
    route.close()
    upstream.close()
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    wait_until_idle(page)
    answer = answers(page).last
    expect(answer).to_contain_text("stopped")
    shown = answer.locator(".content").inner_text()
    page.unroute(conversation)
    stored = json.loads(page_fetch(page, "GET", f"/api/conversations/{page.url.rsplit('/', 1)[1]}")[1])["messages"][-1]
    assert stored["status"] == "stopped" and len(stored["content"]) > 7 * 3
    assert shown == stored["content"].strip()
    page_errors[:] = [error for error in page_errors if "WebSocket" not in error and "ERR_FAILED" not in error]


def test_a_restarting_server_leaves_the_answer_interrupted_and_the_page_reconnects(page, server):
    """The server stops (shutdown.drain): the page shows the answer interrupted with the stored text, says that the
    server is restarting, and reconnects."""
    start_counting(page, server)
    drained = threading.Thread(target=server.app.extensions["webui.shutdown"].drain, args=(0,))
    drained.start()
    expect(page.locator("#connection")).to_have_text(re.compile("restarting"))
    drained.join(10)
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    answer = answers(page).last
    expect(answer).to_contain_text("interrupted")
    shown = answer.locator(".content").inner_text()
    status, body = page_fetch(page, "GET", f"/api/conversations/{page.url.rsplit('/', 1)[1]}")
    stored = json.loads(body)["messages"][-1]
    assert (stored["status"], stored["content"].strip()) == ("interrupted", shown)
