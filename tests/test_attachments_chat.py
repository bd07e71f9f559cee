"""Attachments in chat frames, end to end: a real server, real WebSockets, and fake model servers that record the exact
request body: what an OpenAI-compatible server and Ollama are sent of text files, PDFs and images, and every refusal
before anything is stored or sent."""
import base64
import io
import re

import pytest
from PIL import Image
from simple_websocket import Client
from sqlalchemy import select

from attachment_files import image_bytes, pdf_bytes, stored, text_page, upload
from conftest import Browser, DaemonThread, Socket
from databases import run_sql
from fake_ollama import ollama  # noqa: F401 (fixture)
from fake_upstream import OPENAI_CHAT, upstream, webui  # noqa: F401 (fixtures)
from webui import attachments
from webui.errors import UserError
from webui.storage import conversations, get_db
from webui.storage.database import transaction
from webui.storage.schema import attachments as attachments_table

pytestmark = pytest.mark.both_databases

OLLAMA_CHAT = "/api/chat"
CYRILLIC = re.compile("[а-яА-Я]")
# A text file whose own fences a block of three backticks would close too early.
NOTES = "Use ``` to fence code,\nand ```` too.\n"
QUESTION = "What do these say?"


def lab(upstream, **settings):
    """A [[providers]] entry for the fake server's OpenAI API, its model `m`."""
    return {"name": "lab", "type": "openai", "base_url": upstream.url + "/v1", "models": ["m"], **settings}


def local_ollama(upstream, **settings):
    """A [[providers]] entry for the fake Ollama, its two models."""
    return {"name": "ol", "type": "ollama", "base_url": upstream.url, **settings}


def connect(browser, language="en"):
    """A WebSocket of this browser (its cookies), in `language`."""
    ws_url = browser.url.replace("http", "ws", 1) + "/ws"
    headers = {"Cookie": browser.cookie_header(), "Accept-Language": language}
    return Socket(Client.connect(ws_url, headers=headers, thread_class=DaemonThread))


def attach(browser, *files):
    """Upload each (bytes, name, type) as this browser: their ids."""
    ids = []
    for data, name, kind in files:
        response = upload(browser, data, name, kind)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def turn(request_id, ids, content=QUESTION, provider="lab", model="m", conversation_id=None, **fields):
    """A chat frame of a stored conversation whose message carries the attachments `ids`."""
    return {
        "type": "chat", "request_id": request_id, "conversation_id": conversation_id, "provider": provider,
        "model": model, "content": content, "attachments": ids, **fields,
    }


def ask(browser, frame, language="en"):
    """Send one frame on a new socket of the browser: its frames up to the final one."""
    ws = connect(browser, language)
    try:
        ws.send(frame)
        return ws.until_final(frame["request_id"])
    finally:
        ws.close()


def the_files(browser):
    """A text file whose text holds fences, a PDF and a PNG, uploaded: their ids, and the PNG's stored bytes."""
    ids = attach(
        browser,
        (NOTES.encode(), "notes.md", "text/markdown"),
        (pdf_bytes([text_page("Quarterly report")]), "report.pdf", "application/pdf"),
        (image_bytes("PNG", (64, 48)), "chart.png", "image/png"),
    )
    return ids, browser.get(f"/api/attachments/{ids[2]}").content


# The text part every kind of server is sent: the text files as blocks (a fence longer than any run of backticks in
# them), then the person's words.
TEXT = f"notes.md\n`````\n{NOTES}`````\n\nreport.pdf\n```\nQuarterly report\n```\n\n{QUESTION}"


def data_url(png):
    """A PNG's bytes as OpenAI's image_url takes them."""
    return "data:image/png;base64," + base64.b64encode(png).decode()


def openai_parts(png, text=TEXT):
    """The content parts of a user message with that text and that image."""
    return [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": data_url(png)}}]


def database(server):
    """The rows of the conversations and messages, and the links of attachments to messages."""
    tables = ("conversations", "messages", "message_attachments")
    return [run_sql(server.app, f"SELECT count(*) FROM {table}")[0][0] for table in tables]


def test_an_openai_server_is_sent_text_blocks_and_the_image_as_a_data_url(upstream, webui):
    server = webui([lab(upstream, vision=True)])
    browser = Browser(server.url)
    ids, png = the_files(browser)
    frames = ask(browser, turn("r", ids))
    assert frames[-1]["type"] == "done", frames[-1]
    (request,) = upstream.requests_to(OPENAI_CHAT)
    assert request.body["messages"] == [{"role": "user", "content": openai_parts(png)}]
    # The conversation shows the message's files, in order, after a reload too.
    shown = browser.get(f"/api/conversations/{frames[0]['conversation_id']}").json()
    user, answer = shown["messages"]
    assert (user["content"], [a["id"] for a in user["attachments"]], answer["attachments"]) == (QUESTION, ids, [])
    assert [(a["name"], a["kind"]) for a in user["attachments"]] == [("notes.md", "text"), ("report.pdf", "pdf"), ("chart.png", "image")]


def test_ollama_is_sent_the_image_in_images(upstream, webui, ollama):
    ollama.vision.add("fake-model")
    server = webui([local_ollama(upstream)])
    browser = Browser(server.url)
    ids, png = the_files(browser)
    frames = ask(browser, turn("r", ids, provider="ol", model="fake-model"))
    assert frames[-1]["type"] == "done", frames[-1]
    (request,) = upstream.requests_to(OLLAMA_CHAT)
    assert request.body["messages"] == [{"role": "user", "content": TEXT, "images": [base64.b64encode(png).decode()]}]
    # Whether the model reads images and how long its context is come from one /api/show, asked once.
    assert len(upstream.requests_to("/api/show")) == 1


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_model_that_reads_no_images_refuses_one_before_anything_is_sent_or_stored(upstream, webui, ollama, language):
    server = webui([lab(upstream, vision=["other"]), local_ollama(upstream)])
    browser = Browser(server.url)
    ids, _png = the_files(browser)
    for provider, model in (("lab", "m"), ("ol", "fake-model")):
        final = ask(browser, turn("r", ids, provider=provider, model=model), language)[-1]
        assert (final["type"], final["code"]) == ("error", "no_vision"), final
        assert model in final["message"] and bool(CYRILLIC.search(final["message"])) == (language == "ru")
    assert upstream.requests_to(OPENAI_CHAT) == [] and upstream.requests_to(OLLAMA_CHAT) == []
    assert database(server) == [0, 0, 0]
    # The uploads stay, unsent, for the page to send elsewhere.
    assert len(stored(server.app)[0]) == 3


def test_a_model_named_in_vision_reads_images_the_others_not(upstream, webui):
    server = webui([lab(upstream, models=["m", "other"], vision=["m"])])
    browser = Browser(server.url)
    ids = attach(browser, (image_bytes("PNG"), "dot.png", "image/png"))
    assert ask(browser, turn("a", ids, model="other"))[-1]["code"] == "no_vision"
    assert ask(browser, turn("b", ids, model="m"))[-1]["type"] == "done"


@pytest.mark.parametrize("language", ["en", "ru"])
def test_another_users_attachment_is_not_found_as_an_unknown_one_and_nothing_is_stored(upstream, webui, language):
    server = webui([lab(upstream, vision=True)])
    alice, bob = Browser(server.url), Browser(server.url)
    (theirs,) = attach(alice, (b"alice's notes", "a.txt", "text/plain"))
    (mine,) = attach(bob, (b"bob's notes", "b.txt", "text/plain"))
    refusals = [ask(bob, turn(n, ids), language)[-1] for n, ids in enumerate(([mine, theirs], ["no-such-id"]))]
    for final in refusals:
        assert (final["type"], final["code"]) == ("error", "not_found"), final
        assert bool(CYRILLIC.search(final["message"])) == (language == "ru")
    assert refusals[0]["message"] == refusals[1]["message"]
    # A plain request is refused the same way.
    plain = {"type": "chat", "request_id": "p", "provider": "lab", "model": "m", "messages": [{"role": "user", "content": "x"}]}
    assert ask(bob, {**plain, "attachments": [theirs]}, language)[-1]["code"] == "not_found"
    assert upstream.requests_to(OPENAI_CHAT) == [] and database(server) == [0, 0, 0]


@pytest.mark.parametrize(
    "attachments, words",
    [("x", "list of attachment ids"), ([1], "list of attachment ids"), (["a b"], "list of attachment ids"),
     (["same", "same"], "once"), ([f"id{n}" for n in range(11)], "at most 10 files")],
)
def test_malformed_attachments_are_bad_requests(upstream, webui, attachments, words):
    server = webui([lab(upstream, vision=True)])
    browser = Browser(server.url)
    final = ask(browser, turn("r", attachments))[-1]
    assert (final["code"], words in final["message"]) == ("bad_request", True), final
    assert database(server) == [0, 0, 0]


def test_the_history_carries_earlier_files_and_regenerate_and_edit_keep_or_take_them(upstream, webui):
    server = webui([lab(upstream, vision=True)])
    browser = Browser(server.url)
    ids, png = the_files(browser)
    first = ask(browser, turn("1", ids))
    conversation_id = first[0]["conversation_id"]
    second = ask(browser, turn("2", [], content="And now?", conversation_id=conversation_id))
    again = turn("3", None, content=None, conversation_id=conversation_id, action="regenerate", message_id=second[0]["message_id"])
    regenerated = ask(browser, again)
    (notes,) = attach(browser, (b"only this", "only.txt", "text/plain"))
    edit = turn("4", [notes], content="", conversation_id=conversation_id, action="edit", message_id=first[0]["user_message_id"])
    edited = ask(browser, edit)
    assert [f[-1]["type"] for f in (first, second, regenerated, edited)] == ["done"] * 4
    bodies = [seen.body["messages"] for seen in upstream.requests_to(OPENAI_CHAT)]
    earlier = [{"role": "user", "content": openai_parts(png)}, {"role": "assistant", "content": "Hello, world"}]
    assert bodies[1] == earlier + [{"role": "user", "content": "And now?"}]
    assert bodies[2] == bodies[1]
    # An edit takes the new frame's files, and a message of files alone has no words after them.
    assert bodies[3] == [{"role": "user", "content": "only.txt\n```\nonly this\n```"}]
    shown = browser.get(f"/api/conversations/{conversation_id}").json()["messages"]
    assert [a["id"] for a in shown[0]["attachments"]] == [notes] and shown[0]["content"] == ""


def test_a_message_of_files_alone_is_titled_after_the_first(upstream, webui):
    server = webui([lab(upstream, vision=True)])
    browser = Browser(server.url)
    ids = attach(browser, (b"plan", "kitchen plan.txt", "text/plain"))
    frames = ask(browser, {**turn("r", ids), "content": None})
    assert frames[-1]["type"] == "done"
    listed = browser.get("/api/conversations").json()["conversations"]
    assert [c["title"] for c in listed] == ["kitchen plan.txt"]
    assert ask(browser, turn("blank", [], content="  "))[-1]["code"] == "bad_request"


def test_a_large_image_is_sent_scaled_down_and_the_stored_one_keeps_its_size(upstream, webui):
    server = webui([lab(upstream, vision=True)])
    browser = Browser(server.url)
    ids = attach(browser, (image_bytes("PNG", (3000, 1500), color=(10, 120, 200)), "wide.png", "image/png"))
    assert ask(browser, turn("r", ids, content="Wide?"))[-1]["type"] == "done"
    url = upstream.requests_to(OPENAI_CHAT)[0].body["messages"][0]["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert sent.size == (2048, 1024) and sent.getpixel((100, 100)) == (10, 120, 200)
    assert Image.open(io.BytesIO(browser.get(f"/api/attachments/{ids[0]}").content)).size == (3000, 1500)


def test_a_plain_request_gives_the_files_to_its_last_user_message(upstream, webui):
    server = webui([lab(upstream, vision=True)])
    browser = Browser(server.url)
    ids, png = the_files(browser)
    messages = [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "They say"},
    ]
    frame = {"type": "chat", "request_id": "p", "provider": "lab", "model": "m", "messages": messages, "attachments": ids}
    assert ask(browser, frame)[-1]["type"] == "done"
    body = upstream.requests_to(OPENAI_CHAT)[0].body["messages"]
    assert body == [messages[0], {"role": "user", "content": openai_parts(png)}, messages[2]]
    alone = ask(browser, {**frame, "request_id": "q", "messages": messages[:1]})[-1]
    assert alone["code"] == "bad_request" and "user message" in alone["message"]
    assert database(server) == [0, 0, 0]


def test_deleting_the_conversation_deletes_its_files_unless_another_carries_them(upstream, webui):
    server = webui([lab(upstream, vision=True)])
    browser = Browser(server.url)
    ids, _png = the_files(browser)
    first = ask(browser, turn("1", ids))[0]["conversation_id"]
    second = ask(browser, turn("2", ids[2:]))[0]["conversation_id"]
    headers = {"X-CSRF-Token": browser.csrf_token()}
    assert browser.http.delete(f"{server.url}/api/conversations/{first}", headers=headers, timeout=10).status_code == 204
    rows, links, names = stored(server.app)
    # The image's file is left (a 64 × 48 image is its own thumbnail: the same bytes, one file).
    assert [row[0] for row in rows] == ids[2:] and len(links) == 1 and names == [rows[0][2]]
    assert browser.get(f"/api/attachments/{ids[0]}").status_code == 404
    assert browser.http.delete(f"{server.url}/api/conversations/{second}", headers=headers, timeout=10).status_code == 204
    assert stored(server.app) == ([], [], [])


def test_a_file_deleted_after_the_check_is_not_found_when_linked_and_the_message_goes_too(upstream, webui):
    server = webui([lab(upstream, vision=True)])
    browser = Browser(server.url)
    (gone,) = attach(browser, (b"soon gone", "gone.txt", "text/plain"))
    with server.app.app_context():
        db = get_db()
        owner = db.execute(select(attachments_table.c.owner)).fetchone()[0]
        attachments.for_message(db, owner, [gone])
        browser.http.delete(f"{server.url}/api/attachments/{gone}", headers={"X-CSRF-Token": browser.csrf_token()}, timeout=10)
        with pytest.raises(UserError) as refused:
            with transaction(db):
                conversation_id = conversations.create_conversation(db, owner, "t")
                message_id = conversations.add_message(db, conversation_id, None, "user", "see the file")
                attachments.link(db, message_id, [gone])
    assert refused.value.code == "not_found" and database(server) == [0, 0, 0]
