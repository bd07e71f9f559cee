"""Which models are sent images: drop-in modules with and without `supports_images`, the local models (never), `vision`
of a [[providers]] entry and of a connection from the page; and what attachments count against the context."""
import base64
import math
import os
import sqlite3
import sys
from types import SimpleNamespace

import pytest

from attachment_files import image_bytes, upload
from conftest import Browser
from databases import run_sql
from fake_upstream import OPENAI_CHAT, upstream, webui  # noqa: F401 (fixtures)
from test_attachments_chat import ask, attach, database, lab, turn
from test_connections import listed, refused_in_both_languages, send
from webui.chat import turns
from webui.chat.chat_request import parse_chat
from webui.errors import UserError
from webui.providers.base import Provider
from webui.providers.registry import DROPIN_PACKAGE
from webui.storage import FILENAME, get_db

# A module whose models read images: it records what it is sent.
SEEING = '''
url = "http://127.0.0.1/seeing"
model = ["eyes"]
supports_stream = True
needs_auth = False
supports_images = True
seen = []


def _create_completion(model, messages, stream, **kwargs):
    seen.append(messages)
    yield "I see."
'''


@pytest.fixture
def app_config(app_config, providers_dir):
    """The test drop-ins and `seeing`, a module that reads images."""
    (providers_dir / "seeing.py").write_text(SEEING)
    return app_config


def module(name):
    """A drop-in module as loaded."""
    return sys.modules[f"{DROPIN_PACKAGE}.{name}"]


def test_a_module_with_supports_images_gets_openai_content_parts(server):
    browser = Browser(server.url)
    ids = attach(browser, (b"a note", "note.txt", "text/plain"), (image_bytes("JPEG"), "photo.jpg", "image/jpeg"))
    jpeg = browser.get(f"/api/attachments/{ids[1]}").content
    frames = ask(browser, turn("r", ids, content="Look", provider="seeing", model="eyes"))
    assert frames[-1]["type"] == "done" and "".join(f.get("text", "") for f in frames) == "I see."
    url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    text = "note.txt\n```\na note\n```\n\nLook"
    parts = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]
    assert module("seeing").seen == [[{"role": "user", "content": parts}]]


def test_a_module_without_it_gets_text_and_is_never_sent_an_image(server):
    browser = Browser(server.url)
    (note,) = attach(browser, (b"a note", "note.txt", "text/plain"))
    (photo,) = attach(browser, (image_bytes("PNG"), "photo.png", "image/png"))
    testing = module("testing")
    assert ask(browser, turn("text", [note], content="Look", provider="testing", model="echo"))[-1]["type"] == "done"
    assert testing.seen_messages == [[{"role": "user", "content": "note.txt\n```\na note\n```\n\nLook"}]]
    for language in ("en", "ru"):
        final = ask(browser, turn("image", [photo], content="Look", provider="testing", model="echo"), language)[-1]
        assert final["code"] == "no_vision" and "echo" in final["message"]
    assert len(testing.seen_messages) == 1 and database(server) == [1, 2, 1]


def test_the_local_models_read_no_images(server):
    browser = Browser(server.url)
    (photo,) = attach(browser, (image_bytes("PNG"), "photo.png", "image/png"))
    plain = {"type": "chat", "request_id": "p", "provider": "local", "messages": [{"role": "user", "content": "Hi"}]}
    for frame in (turn("s", [photo], provider="local", model=None), {**plain, "attachments": [photo]}):
        final = ask(browser, frame)[-1]
        assert final["code"] == "no_vision", final
    assert database(server) == [0, 0, 0]


def test_a_conversation_with_images_goes_on_only_with_models_that_read_them(server):
    browser = Browser(server.url)
    (photo,) = attach(browser, (image_bytes("PNG"), "photo.png", "image/png"))
    conversation_id = ask(browser, turn("1", [photo], provider="seeing", model="eyes"))[0]["conversation_id"]
    later = turn("2", [], content="And the colour?", provider="testing", model="echo", conversation_id=conversation_id)
    final = ask(browser, later)[-1]
    assert final["code"] == "no_vision"
    assert database(server) == [1, 2, 1] and module("testing").seen_messages == []


def test_attachments_count_against_the_context_and_an_image_as_1024_tokens(upstream, webui):
    server = webui([lab(upstream, vision=True, context_length=1500)])
    browser = Browser(server.url)
    notes = "word " * 30
    ids = attach(browser, (notes.encode(), "notes.txt", "text/plain"), (image_bytes("PNG"), "a.png", "image/png"))
    frames = ask(browser, turn("r", ids, content="Sum up."))
    content = f"notes.txt\n```\n{notes}\n```\n\nSum up."
    # The estimate: 4 for the prompt, and for the message its text at 3 bytes a token, 4, and 1,024 for the image.
    assert frames[0]["context"] == {"limit": 1500, "used": 4 + math.ceil(len(content) / 3) + 4 + 1024, "dropped_messages": 0}
    # Two images leave no room for the answer (a quarter of 1,500 tokens): refused before anything is stored or sent.
    (other,) = attach(browser, (image_bytes("PNG", color=(0, 0, 0)), "b.png", "image/png"))
    final = ask(browser, turn("s", [ids[1], other], content="Compare."))[-1]
    assert final["code"] == "context_exceeded" and f"{math.ceil(len('Compare.') / 3) + 4 + 2 * 1024:,} tokens" in final["message"]
    assert len(upstream.requests_to(OPENAI_CHAT)) == 1 and database(server)[:2] == [1, 2]


def test_vision_of_a_connection_is_true_false_or_a_list_of_models(upstream, webui):
    server = webui([])
    admin = Browser(server.url)
    created = send(admin, "POST", "/api/connections", json={**lab(upstream), "models": ["m", "n"], "vision": ["m"]})
    assert created.status_code == 201 and created.json()["vision"] == ["m"]
    (photo,) = attach(admin, (image_bytes("PNG"), "photo.png", "image/png"))
    assert ask(admin, turn("1", [photo], model="n"))[-1]["code"] == "no_vision"
    assert ask(admin, turn("2", [photo], model="m"))[-1]["type"] == "done"
    path = f"/api/connections/{created.json()['id']}"
    assert send(admin, "PATCH", path, json={"vision": True}).json()["vision"] is True
    assert ask(admin, turn("3", [photo], model="n"))[-1]["type"] == "done"
    assert send(admin, "PATCH", path, json={"vision": []}).json()["vision"] == []
    assert ask(admin, turn("4", [photo], model="m"))[-1]["code"] == "no_vision"
    for bad in ("yes", ["m", ""], [1], ["m" * 201]):
        body = {**lab(upstream), "name": "other", "vision": bad}
        assert "vision" in refused_in_both_languages(admin, "/api/connections", body, 400).json()["error"]["field"]
    assert [c["vision"] for c in listed(admin)] == [[]]


def test_vision_of_a_providers_entry(upstream, webui):
    server = webui([lab(upstream, vision=["m"]), {**lab(upstream), "name": "bad", "vision": "yes"}])
    admin = Browser(server.url)
    assert [(c["name"], c["vision"]) for c in listed(admin)] == [("lab", ["m"])]
    broken = {p["name"]: p for p in admin.get("/api/providers").json()["providers"]}["bad"]
    assert not broken["available"] and "“vision” must be true or false, or a list of model names" in broken["error"]


def test_auto_tries_only_the_servers_whose_models_read_images(upstream, webui):
    blind = {**lab(upstream), "name": "blind", "base_url": upstream.url + "/blind/v1"}
    server = webui([blind, lab(upstream, vision=True)])
    browser = Browser(server.url)
    (photo,) = attach(browser, (image_bytes("PNG"), "photo.png", "image/png"))
    frames = ask(browser, turn("r", [photo], provider="auto", model="default"))
    assert frames[-1]["type"] == "done" and (frames[0]["provider"], frames[0]["model"]) == ("lab", "m")
    assert upstream.requests_to("/blind/v1/chat/completions") == [] and len(upstream.requests_to(OPENAI_CHAT)) == 1
    # Without such a server auto refuses an image at once, as any model that reads none does.
    only_blind = webui([blind])
    browser = Browser(only_blind.url)
    (photo,) = attach(browser, (image_bytes("PNG"), "photo.png", "image/png"))
    assert ask(browser, turn("s", [photo], provider="auto", model="default"))[-1]["code"] == "no_vision"


class AsksItsServer(Provider):
    """A provider that says whether its model reads images as one that asks its server would, slowly: each time it is
    asked it records whether another connection could take SQLite's write lock then."""

    def __init__(self, database, reads):
        super().__init__("asking")
        self.database, self.reads, self.lock_was_free = database, reads, []

    def models(self):
        return ["m"]

    def reads_images(self, model):
        other = sqlite3.connect(self.database, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
            self.lock_was_free.append(True)
        except sqlite3.OperationalError:
            self.lock_was_free.append(False)
        finally:
            other.close()
        return self.reads


@pytest.mark.parametrize("reads", [True, False])
def test_whether_a_model_reads_the_historys_images_is_asked_outside_the_write_lock(app, client, reads):
    photo = upload(client, image_bytes("PNG"), "photo.png", "image/png").json["id"]
    [(owner,)] = run_sql(app, "SELECT owner FROM attachments")
    seeing = AsksItsServer(os.path.join(app.config["WEBUI_DATA_DIR"], FILENAME), True)
    later = AsksItsServer(seeing.database, reads)
    frame = {"request_id": "1", "provider": "asking", "conversation_id": None, "content": "Look", "attachments": [photo]}
    with app.test_request_context("/"):
        first = turns.prepare(get_db(), owner, parse_chat(frame), SimpleNamespace(get=lambda name: seeing))[2]
        frame = {**frame, "request_id": "2", "conversation_id": first.conversation_id, "content": "And?", "attachments": []}
        try:
            sent = turns.prepare(get_db(), owner, parse_chat(frame), SimpleNamespace(get=lambda name: later))[2].messages
        except UserError as refused:
            sent = refused.code
    # Asked once each, with the lock free: the new message's image before the first turn's transaction, the history's
    # image after the second's was rolled back, to be written again.
    assert seeing.lock_was_free == [True] and later.lock_was_free == [True]
    if reads:
        assert [(m["role"], m["content"], len(m.get("images", ()))) for m in sent] == [("user", "Look", 1), ("user", "And?", 0)]
    else:
        assert sent == "no_vision"
    assert run_sql(app, "SELECT count(*) FROM messages")[0][0] == (4 if reads else 2)
