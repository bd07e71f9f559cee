"""The language links the chat page and the sign-in page share."""
import json
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from webui.access.auth import get_access
from webui.i18n import LANGUAGES


class LanguageNav(HTMLParser):
    """Collects the language navigation's label and the attributes and text of its links."""

    def __init__(self):
        """Start outside the navigation."""
        super().__init__()
        self.label = None
        self.links = []
        self.inside = False

    def handle_starttag(self, tag, attrs):
        """Note where the navigation starts and each link in it."""
        attrs = dict(attrs)
        if tag == "nav" and attrs.get("class") == "languages":
            self.inside = True
            self.label = attrs.get("aria-label")
        elif tag == "a" and self.inside:
            self.links.append({**attrs, "text": ""})

    def handle_endtag(self, tag):
        """Note where the navigation ends."""
        if tag == "nav":
            self.inside = False

    def handle_data(self, data):
        """Keep the text of the link being read."""
        if self.inside and self.links:
            self.links[-1]["text"] += data.strip()


def language_nav(html):
    """The page's language navigation, parsed."""
    nav = LanguageNav()
    nav.feed(html)
    return nav


@pytest.fixture
def login_required(app):
    """An account exists, so the sign-in page is shown instead of skipped."""
    with app.app_context():
        get_access().users.add("alice", "correct horse battery")


def assert_offers_every_language(nav, current):
    """Each language is linked once, under its own name, and only the current one is marked current."""
    assert [link["hreflang"] for link in nav.links] == list(LANGUAGES)
    assert [link["lang"] for link in nav.links] == list(LANGUAGES)
    assert [link["text"] for link in nav.links] == list(LANGUAGES.values())
    assert [link["hreflang"] for link in nav.links if "aria-current" in link] == [current]


@pytest.mark.parametrize("locale, label", [("en", "Language"), ("ru", "Язык")])
def test_chat_page_links_every_language_relative_to_its_own_address(client, locale, label):
    nav = language_nav(client.get(f"/c/some-conversation?lang={locale}").get_data(as_text=True))
    assert nav.label == label
    assert_offers_every_language(nav, locale)
    # A relative query keeps the reader on the conversation they were reading.
    assert [link["href"] for link in nav.links] == [f"?lang={code}" for code in LANGUAGES]


@pytest.mark.parametrize("locale, label", [("en", "Language"), ("ru", "Язык")])
def test_sign_in_page_links_every_language_keeping_next(client, login_required, locale, label):
    target = "/c/a&b?x=\"y\""
    html = client.get("/login", query_string={"lang": locale, "next": target}).get_data(as_text=True)
    nav = language_nav(html)
    assert nav.label == label
    assert_offers_every_language(nav, locale)
    for link, code in zip(nav.links, LANGUAGES):
        address = urlsplit(link["href"])
        assert address.path == "/login"
        assert parse_qs(address.query) == {"lang": [code], "next": [target]}


def test_following_a_sign_in_language_link_keeps_next(client, login_required):
    english = language_nav(client.get("/login?next=/c/kept").get_data(as_text=True))
    russian_link = next(link["href"] for link in english.links if link["hreflang"] == "ru")
    html = client.get(russian_link).get_data(as_text=True)
    assert '<html lang="ru">' in html and "<h1>Вход</h1>" in html
    assert 'name="next" value="/c/kept"' in html
    assert_offers_every_language(language_nav(html), "ru")


class Preloads(HTMLParser):
    """Collects the hrefs of the page's modulepreload links."""

    def __init__(self):
        """None yet."""
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        """Keep a modulepreload link's href."""
        attrs = dict(attrs)
        if tag == "link" and attrs.get("rel") == "modulepreload":
            self.hrefs.append(attrs["href"])


def test_the_page_preloads_every_module_its_script_reaches(client):
    parser = Preloads()
    parser.feed(client.get("/").text)
    modules = [href.removeprefix("/static/") for href in parser.hrefs]
    # Imported directly by app.js, two levels down, and a vendored library three levels down; KaTeX, imported
    # only once some text has math, is not.
    assert {"chat.js", "markdown.js", "math.js", "vendor/markdown-it/markdown-it.js"} <= set(modules)
    assert "vendor/katex/katex.js" not in modules
    assert "app.js" not in modules and "theme.js" not in modules and len(modules) == len(set(modules))
    for href in parser.hrefs:
        assert client.get(href).status_code == 200, href


def embedded_conversation(page):
    """The conversation JSON the page carries, or None."""
    found = re.search(r'<script id="conversation-data" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(found[1]) if found else None


def test_the_page_carries_the_conversation_it_opens_to_its_owner_only(app):
    owner, stranger = app.test_client(), app.test_client()
    owner.get("/")
    stranger.get("/")
    lines = [{"role": "user", "content": "a secret <b>question</b>"}, {"role": "assistant", "content": "</script> answer"}]
    conversation_id = owner.post("/api/conversations/import", json=lines).json["id"]

    carried = embedded_conversation(owner.get(f"/c/{conversation_id}").text)
    assert carried == owner.get(f"/api/conversations/{conversation_id}").json
    assert [m["content"] for m in carried["messages"]] == [line["content"] for line in lines]

    page = stranger.get(f"/c/{conversation_id}").text
    assert embedded_conversation(page) is None and "secret" not in page
    assert embedded_conversation(owner.get("/").text) is None


def test_the_sign_in_page_links_the_icons_and_manifest_as_the_chat_page_does(app, client):
    head = re.compile(r'<link rel="(?:icon|apple-touch-icon|manifest)" href="([^"]+)"')
    chat = head.findall(client.get("/").text)
    with app.app_context():
        get_access().users.add("alice", "correct horse battery")
    assert len(chat) == 3 and head.findall(client.get("/login").text) == chat
    for href in chat:
        assert client.get(href).status_code == 200
