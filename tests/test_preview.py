"""The newest messages of a conversation rendered into its page by the server, shown before the scripts run."""
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from html import unescape
from html.parser import HTMLParser

import requests
from browser import DESKTOP, WAIT_MS, open_chat
from conftest import ServerProcess
from playwright.sync_api import expect
from test_browser import DANGEROUS
from test_browser_conversations import page_fetch
from test_cli import clean_env

from webui import preview


def conversation(count, answer="Answer **{n}**."):
    """`count` messages, question then answer; answers are Markdown numbered by their question."""
    return [{"role": "user", "content": f"Question {n // 2} <b>as typed</b>"} if n % 2 == 0
            else {"role": "assistant", "content": answer.format(n=n // 2)} for n in range(count)]


def import_conversation(client, messages):
    """Store `messages` for the test client's visitor; returns the conversation's id."""
    response = client.post("/api/conversations/import", json=messages)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


class Opening(HTMLParser):
    """The tags and attributes inside the page's .opening-messages, and the text of each message in it."""

    def __init__(self):
        """Nothing seen yet."""
        super().__init__()
        self.depth = 0
        self.tags = []
        self.messages = []

    def handle_starttag(self, tag, attrs):
        """Track entering the server's copy; inside it, keep every tag with its attributes."""
        if self.depth:
            self.depth += 1
            self.tags.append((tag, dict(attrs)))
            if tag == "article":
                self.messages.append("")
        elif ("class", "opening-messages") in attrs:
            self.depth = 1

    def handle_endtag(self, tag):
        """Track leaving it."""
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        """Text of the current message."""
        if self.depth and self.messages:
            self.messages[-1] += data


def opening_of(html):
    """Parse the page's server copy of the newest messages."""
    parser = Opening()
    parser.feed(html)
    return parser


def test_the_newest_messages_fit_the_limits_and_the_last_is_always_there():
    messages = conversation(20)
    chosen = preview.newest(messages)
    assert len(chosen) == preview.MAX_MESSAGES
    assert [m["role"] for m in chosen] == [m["role"] for m in messages[-preview.MAX_MESSAGES:]]
    assert "<strong>9</strong>" in chosen[-1]["html"]
    long = messages[:-1] + [{"role": "assistant", "content": "x" * (preview.MAX_CHARS * 2)}]
    assert [m["role"] for m in preview.newest(long)] == ["assistant"]
    medium = conversation(6, "{n}" + "y" * (preview.MAX_CHARS // 3))
    # From the end: answer, question, answer, question fit; the next answer would pass MAX_CHARS.
    assert len(preview.newest(medium)) == 4
    assert preview.newest([]) == []


def test_a_message_too_long_to_render_shows_the_end_of_its_text():
    text = "Start. " + "x" * (preview.MAX_CHARS * 2) + " The end."
    [shown] = preview.newest(conversation(3)[:-1] + [{"role": "assistant", "content": text}])
    assert shown["raw"] and shown["html"] == preview.ELLIPSIS + text[-(preview.MAX_CHARS - 1):]
    assert len(shown["html"]) == preview.MAX_CHARS and shown["html"].endswith("x The end.")


def test_messages_that_take_too_long_to_render_are_shown_as_text():
    # Within MAX_CHARS, but a render of it takes a tenth of a second: more than a deadline of none.
    messages = [{"role": "user", "content": "links?"}, {"role": "assistant", "content": "http://a" * 700}]
    assert preview.newest(messages, seconds=0) == [
        {"role": "user", "html": "links?", "raw": False},
        {"role": "assistant", "html": "http://a" * 700, "raw": True},
    ]
    assert not preview.newest(messages, seconds=30)[-1]["raw"]


def test_a_page_whose_answer_is_slow_to_render_freezes_nobody(tmp_path, providers_dir):
    # markdown-it takes 17 s over this: under gevent that would stop every other request, and gunicorn's timeout
    # kills the worker, dropping every user, at twice the size.
    text = "http://a" * 80_000
    env = clean_env(WEBUI_DATA_DIR=str(tmp_path), WEBUI_PROVIDERS_DIR=str(providers_dir), LANG="C")
    server = ServerProcess([sys.executable, "-m", "webui", "--port", "0", "serve"], env=env)
    try:
        owner = requests.Session()
        messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": text}]
        imported = owner.post(server.url + "/api/conversations/import", json=messages, timeout=30)
        assert imported.status_code == 201, imported.text
        with ThreadPoolExecutor(2) as pool:
            page = pool.submit(owner.get, f"{server.url}/c/{imported.json()['id']}", timeout=10)
            others = pool.submit(lambda: [requests.get(server.url + "/api/providers", timeout=5) for _ in range(5)])
            assert all(response.status_code == 200 for response in others.result(timeout=30))
            opening = opening_of(page.result(timeout=30).text)
        assert unescape(opening.messages[-1]).strip() == preview.tail(text)
        # A message within the budget is still rendered, in gevent's pool of native threads.
        short = owner.post(server.url + "/api/conversations/import", json=conversation(2), timeout=30).json()["id"]
        rendered = opening_of(owner.get(f"{server.url}/c/{short}", timeout=10).text)
        assert ("strong", {}) in rendered.tags
    finally:
        server.stop()


def test_the_owners_page_carries_the_end_rendered_and_a_strangers_does_not(app, testing_provider):
    owner, stranger = app.test_client(), app.test_client()
    answer = testing_provider().MARKDOWN_ANSWER
    conversation_id = import_conversation(owner, conversation(4)[:-1] + [{"role": "assistant", "content": answer}])
    page = owner.get(f"/c/{conversation_id}").get_data(as_text=True)
    opening = opening_of(page)
    tags = [tag for tag, _ in opening.tags]
    assert tags.count("article") == 4 and {"strong", "table", "pre", "code"} <= set(tags)
    # A question is text: what was typed as a tag shows as typed.
    assert "Question 1 <b>as typed</b>" in opening.messages[-2] and "b" not in tags
    assert 'class="messages opening"' in page
    assert '<h1 id="title" dir="auto">Question 0 &lt;b&gt;as typed&lt;/b&gt;</h1>' in page
    assert "<title>Question 0 &lt;b&gt;as typed&lt;/b&gt; · Chat</title>" in page
    assert "opening-messages" not in stranger.get(f"/c/{conversation_id}").get_data(as_text=True)
    assert "opening-messages" not in owner.get("/").get_data(as_text=True)


def test_an_answer_that_tries_to_run_code_is_inert_in_the_page(app, testing_provider):
    client = app.test_client()
    answer = testing_provider().XSS_ANSWER
    conversation_id = import_conversation(client, [{"role": "user", "content": "q"}, {"role": "assistant", "content": answer}])
    opening = opening_of(client.get(f"/c/{conversation_id}").get_data(as_text=True))
    assert len(opening.messages) == 2 and "window.__pwned" in opening.messages[-1]
    for tag, attrs in opening.tags:
        assert tag not in ("script", "iframe", "svg", "object", "embed"), tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not any(str(value).lower().startswith("javascript:") for value in attrs.values()), (tag, attrs)


@contextmanager
def opened(chromium, server, messages, scripts):
    """A page in a fresh context, with or without scripts, at the address of `messages` stored as its conversation."""
    context = chromium.new_context(viewport=DESKTOP, java_script_enabled=scripts)
    context.set_default_timeout(WAIT_MS)
    try:
        page = context.new_page()
        response = context.request.post(f"{server.url}/api/conversations/import", data=messages)
        assert response.status == 201
        page.goto(f"{server.url}/c/{response.json()['id']}")
        yield page
    finally:
        context.close()


def test_without_scripts_the_end_of_the_conversation_is_in_view(chromium, server):
    # Answers of eight paragraphs: the server's copy is taller than the window.
    messages = conversation(40, "Answer **{n}**." + "\n\nA paragraph of the answer." * 8)
    with opened(chromium, server, messages, scripts=False) as page:
        last = page.locator("#messages .message.assistant").last
        expect(last).to_contain_text("Answer 19.")
        expect(last.locator("strong")).to_have_text("19")
        expect(last).to_be_in_viewport()
        expect(page.locator("#messages .message").first).not_to_be_in_viewport()


def test_the_scripts_replace_the_servers_copy_with_the_whole_conversation(page, server):
    open_chat(page, server)
    status, body = page_fetch(page, "POST", "/api/conversations/import", conversation(40, "Answer **{n}**\n\n```python\nx = {n}\n```"))
    assert status == 201, body
    page.goto(f"{server.url}/c/{json.loads(body)['id']}")
    expect(page.locator(".opening-messages")).to_have_count(0)
    expect(page.locator("#messages .message")).to_have_count(40)
    expect(page.locator("#messages .message .raw")).to_have_count(0)
    expect(page.locator("#messages .message.assistant").last.locator(".copy-code")).to_have_count(1)
    expect(page.locator("#messages .message.assistant").last).to_be_in_viewport()
    assert page.locator(f"#messages :is({DANGEROUS})").count() == 0


def test_nothing_moves_when_the_scripts_take_over(chromium, server):
    """The last messages sit where the server's copy put them, the room for their actions included."""
    messages = conversation(40, "Answer **{n}**." + "\n\nA paragraph of the answer." * 3)
    boxes = []
    for scripts in (False, True):
        with opened(chromium, server, messages, scripts) as page:
            if scripts:
                expect(page.locator(".opening-messages")).to_have_count(0)
                expect(page.locator("#messages .message")).to_have_count(40)
            boxes.append([page.locator("#messages .message").nth(-n).bounding_box() for n in (1, 2, 3)])
    server_copy, page_views = boxes
    for before, after in zip(server_copy, page_views):
        assert abs(before["y"] - after["y"]) <= 2 and abs(before["height"] - after["height"]) <= 2, (before, after)
