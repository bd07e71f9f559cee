"""WEBUI_MAX_ANSWER_CHARS: an answer that reaches it ends with `length`, its generator closed, the capped text kept."""
import sys

import pytest
from browser import answers, choose, open_chat, send, wait_until_idle
from playwright.sync_api import expect

from conftest import LiveServer, Visitor, chat, turn
from test_bridge_ws import text_of
from webui import create_app
from webui.providers.registry import DROPIN_PACKAGE

CAP = 100_000
# One chunk far over the cap, then more that must never be asked for.
HUGE = """
import threading

url = "http://127.0.0.1/huge"
model = "one-chunk"
supports_stream = True
needs_auth = False
closed = []
closed_event = threading.Event()
asked = []


def _create_completion(model, messages, stream, **kwargs):
    try:
        yield "y" * 5_000_000
        asked.append("more")
        yield "never"
    finally:
        closed.append(model)
        closed_event.set()
"""


@pytest.fixture
def capped(app_config, providers_dir):
    """A server whose answers stop at CAP characters, with the one-huge-chunk drop-in."""
    (providers_dir / "huge.py").write_text(HUGE)
    server = LiveServer(create_app({**app_config, "WEBUI_MAX_ANSWER_CHARS": CAP}))
    yield server
    server.stop()


def flood_text(chunks):
    """What the testing module's flood model yields for `max_tokens=chunks`."""
    return "".join(f"{n:08d}" * 8192 for n in range(chunks))


def test_a_flood_ends_at_the_cap_with_length_and_its_generator_closed(capped, testing_provider):
    ws = capped.connect()
    ws.send(chat("f", model="flood", options={"max_tokens": 50}))
    frames = ws.until_final("f")
    assert frames[-1]["type"] == "done" and frames[-1]["reason"] == "length"
    assert text_of(frames) == flood_text(50)[:CAP]
    assert frames[-1]["stats"]["chars"] == CAP
    assert testing_provider().closed_event.wait(5) and "flood" in testing_provider().closed
    ws.send(chat("next", "still fine"))
    assert text_of(ws.until_final("next")) == "still fine "


def test_one_huge_chunk_is_cut_at_the_cap(capped):
    ws = capped.connect()
    ws.send(chat("h", provider="huge", model="one-chunk"))
    frames = ws.until_final("h")
    assert frames[-1]["reason"] == "length" and text_of(frames) == "y" * CAP
    module = sys.modules[f"{DROPIN_PACKAGE}.huge"]
    # The generator is closed after the final frame has gone out.
    assert module.closed_event.wait(5)
    assert module.closed == ["one-chunk"] and module.asked == [], "the generator was asked for more, or not closed"


def test_a_stored_answer_keeps_the_capped_text_and_continuing_it_adds_nothing(capped):
    visitor = Visitor(capped)
    ws = visitor.connect()
    ws.send(turn("s", content="flood me", model="flood", options={"max_tokens": 50}))
    frames = ws.until_final("s")
    assert frames[-1]["reason"] == "length"
    conversation = f"/api/conversations/{frames[0]['conversation_id']}"
    stored = visitor.http.get(conversation).json["messages"][-1]
    assert (stored["status"], stored["content"]) == ("length", flood_text(50)[:CAP])
    # A continued answer counts what the message already has: this one is full.
    ws.send(turn("c", frames[0]["conversation_id"], action="continue", message_id=stored["id"], model="echo"))
    again = ws.until_final("c")
    assert again[-1]["reason"] == "length" and text_of(again) == ""
    assert visitor.http.get(conversation).json["messages"][-1]["content"] == flood_text(50)[:CAP]


def test_the_page_says_an_answer_was_cut(page, capped):
    """An answer that reached the cap keeps its text and says why it ended."""
    open_chat(page, capped)
    choose(page, "testing", "flood")
    send(page, "as much as you can")
    wait_until_idle(page)
    expect(answers(page).last.locator(".meta")).to_contain_text("cut at the length limit")
    assert len(answers(page).last.locator(".content").inner_text()) == CAP
