"""Titles: after a new conversation's first answer, a model names it in the background; the first-line title stays
when naming fails or the person renamed the conversation meanwhile."""
import logging
import sys
import time

import pytest
from browser import answers, choose, open_chat, send, wait_until_idle
from playwright.sync_api import expect

from conftest import LiveServer, ServerProcess, Socket, Visitor, turn
from test_cli import clean_env
from test_conversation_restart import get_json, owner_cookie
from test_shutdown import connect
from webui import create_app
from webui.providers.registry import DROPIN_PACKAGE

# Answers like a chat model, and names conversations when asked to: as models do, with a label, quotes and markup.
TITLER = '''
import threading

url = "http://127.0.0.1/titler"
model = ["chat", "namer", "broken", "held", "rambler"]
supports_stream = True
needs_auth = False
asked = []
release = threading.Event()
done = threading.Event()


def _create_completion(model, messages, stream, **kwargs):
    prompt = messages[-1]["content"]
    try:
        if not prompt.startswith("Write a title"):
            yield "Shelves go on the long wall, "
            yield "the table by the window."
            return
        asked.append((model, prompt, kwargs))
        if model == "broken":
            raise RuntimeError("the title model is down")
        if model == "held":
            release.wait(10)
        if model == "rambler":
            yield "Bunnies are wonderful animals!"
            return
        yield '**Title: "Kitchen'
        yield ' plans".**\\nA title for a conversation about a kitchen.'
    finally:
        if prompt.startswith("Write a title"):
            done.set()
'''
QUESTION = "How should I arrange a small kitchen?"
FIRST_LINE = QUESTION


@pytest.fixture
def titled(app_config, providers_dir):
    """start(**settings): a server with titles on and the titler module."""
    (providers_dir / "titler.py").write_text(TITLER)
    servers = []

    def start(**settings):
        """Serve an app with these settings."""
        servers.append(LiveServer(create_app({**app_config, "WEBUI_TITLES": True, **settings})))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def titler():
    """The titler module as loaded."""
    return sys.modules[f"{DROPIN_PACKAGE}.titler"]


def first_answer(server, model="chat", provider="titler"):
    """A new conversation's first turn: (the visitor, its socket, the turn's frames)."""
    visitor = Visitor(server)
    ws = visitor.connect()
    ws.send(turn("t", content=QUESTION, model=model) | {"provider": provider})
    return visitor, ws, ws.until_final("t")


def title_of(visitor, frames):
    """The conversation's stored title."""
    return visitor.http.get(f"/api/conversations/{frames[0]['conversation_id']}").json["title"]


def test_the_first_answer_names_the_conversation_and_tells_the_socket(titled):
    server = titled()
    visitor, ws, frames = first_answer(server)
    assert frames[-1]["type"] == "done" and frames[-1]["reason"] == "complete"
    # Named after the final frame, by the model that answered, and told on the socket that asked.
    assert ws.recv() == {"type": "title", "conversation_id": frames[0]["conversation_id"], "title": "Kitchen plans"}
    assert title_of(visitor, frames) == "Kitchen plans"
    [(model, prompt, options)] = titler().asked
    assert model == "chat" and options == {"max_tokens": 24}
    assert QUESTION in prompt and "the table by the window." in prompt
    # Only a conversation's first answer names it.
    ws.send(turn("u", frames[0]["conversation_id"], content="And the fridge?", model="chat") | {"provider": "titler"})
    assert ws.until_final("u")[-1]["reason"] == "complete"
    ws.send(turn("v", frames[0]["conversation_id"], action="regenerate", message_id=frames[0]["message_id"], model="chat") | {"provider": "titler"})
    assert ws.until_final("v")[-1]["reason"] == "complete"
    assert len(titler().asked) == 1


def test_a_conversation_renamed_meanwhile_keeps_its_name(titled):
    server = titled(WEBUI_TITLE_MODEL="held")
    visitor, ws, frames = first_answer(server)
    # The final frame did not wait for the title, which waits for the module's release.
    assert frames[-1]["type"] == "done"
    url = f"/api/conversations/{frames[0]['conversation_id']}"
    assert visitor.http.patch(url, json={"title": "My kitchen"}).status_code == 200
    titler().release.set()
    assert titler().done.wait(10)
    assert title_of(visitor, frames) == "My kitchen"
    # The next frame on the socket is the next request's, not a title.
    ws.send(turn("u", frames[0]["conversation_id"], content="ok", model="chat") | {"provider": "titler"})
    assert ws.recv()["type"] == "start"


def test_a_failing_title_model_leaves_the_first_line_quietly(titled, caplog):
    server = titled(WEBUI_TITLE_MODEL="broken")
    started = len(caplog.records)
    with caplog.at_level(logging.DEBUG):
        visitor, _, frames = first_answer(server)
        deadline = time.monotonic() + 10
        while not [r for r in caplog.records if r.name == "webui.chat.titles"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert title_of(visitor, frames) == FIRST_LINE
    [record] = [r for r in caplog.records if r.name == "webui.chat.titles"]
    assert record.levelno == logging.DEBUG and "RuntimeError" in record.getMessage()
    assert not [r for r in caplog.records[started:] if r.levelno >= logging.WARNING]


def test_a_reply_about_something_else_is_no_title(titled):
    server = titled(WEBUI_TITLE_MODEL="rambler")
    visitor, ws, frames = first_answer(server)
    assert titler().done.wait(10)
    # The reply was read by the time a next answer has come and gone.
    ws.send(turn("u", frames[0]["conversation_id"], content="ok", model="chat") | {"provider": "titler"})
    ws.until_final("u")
    assert title_of(visitor, frames) == FIRST_LINE


def test_another_provider_and_model_can_name_conversations(titled):
    server = titled(WEBUI_TITLE_PROVIDER="titler", WEBUI_TITLE_MODEL="namer")
    visitor, ws, frames = first_answer(server, model="echo", provider="testing")
    assert ws.recv()["title"] == "Kitchen plans"
    assert [model for model, _, _ in titler().asked] == ["namer"]
    assert title_of(visitor, frames) == "Kitchen plans"


def test_titles_can_be_turned_off(titled):
    server = titled(WEBUI_TITLES=False)
    visitor, ws, frames = first_answer(server)
    ws.send(turn("u", frames[0]["conversation_id"], content="ok", model="chat") | {"provider": "titler"})
    assert ws.recv()["type"] == "start"
    assert titler().asked == [] and title_of(visitor, frames) == FIRST_LINE


def test_an_answer_that_failed_is_not_named(titled, testing_provider):
    server = titled(WEBUI_TITLE_PROVIDER="titler", WEBUI_TITLE_MODEL="namer")
    visitor, ws, frames = first_answer(server, model="fail_midway", provider="testing")
    assert frames[-1]["type"] == "error"
    ws.send(turn("u", frames[0]["conversation_id"], content="ok", model="echo"))
    assert ws.recv()["type"] == "start"
    assert titler().asked == [] and title_of(visitor, frames) == FIRST_LINE


def test_the_list_and_the_header_show_the_new_title(page, titled):
    server = titled()
    open_chat(page, server)
    choose(page, "titler", "chat")
    send(page, QUESTION)
    wait_until_idle(page)
    expect(answers(page).last.locator(".content")).to_have_text("Shelves go on the long wall, the table by the window.")
    expect(page.locator(".conversation-link")).to_have_text(["Kitchen plans"])
    expect(page.locator("#title")).to_have_text("Kitchen plans")


def test_under_webui_serve_the_title_comes_from_a_greenlet(tmp_path, providers_dir):
    (providers_dir / "titler.py").write_text(TITLER)
    env = clean_env(WEBUI_DATA_DIR=str(tmp_path / "data"), WEBUI_PROVIDERS_DIR=str(providers_dir), WEBUI_PING_INTERVAL="0", LANG="C")
    server = ServerProcess([sys.executable, "-m", "webui", "--port", "0", "serve"], env=env)
    try:
        cookie = owner_cookie(server.url)
        ws = Socket(connect(server.url, cookie))
        ws.send(turn("t", content=QUESTION, model="chat") | {"provider": "titler"})
        frames = ws.until_final("t")
        assert frames[-1]["type"] == "done"
        assert ws.recv() == {"type": "title", "conversation_id": frames[0]["conversation_id"], "title": "Kitchen plans"}
        conversation = get_json(f"{server.url}/api/conversations/{frames[0]['conversation_id']}", cookie)
        assert conversation["title"] == "Kitchen plans"
    finally:
        server.stop()
