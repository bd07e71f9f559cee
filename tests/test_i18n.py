"""Both languages: complete catalogs, the page and its script in English and Russian."""
import importlib.util
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("catalogs", ROOT / "translations" / "catalogs.py")
catalogs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(catalogs)


def frozen(value):
    """A msgid or msgstr as a hashable value: a message with plurals has a tuple of forms (a list in a .mo file)."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


def forms(message):
    """Every form of a message's translation."""
    return list(message.string) if message.pluralizable else [message.string]


@pytest.fixture(scope="module")
def extracted():
    """Every msgid in the sources."""
    return {m.id for m in catalogs.extract() if m.id}


@pytest.mark.parametrize("locale", catalogs.LOCALES)
def test_catalog_is_complete_and_compiled(extracted, locale):
    catalog = catalogs.read(locale)
    translated = {m.id: frozen(m.string) for m in catalog if m.id}
    assert extracted <= set(translated), f"missing from {locale}: {sorted(extracted - set(translated))}"
    assert not [m.id for m in catalog if m.id in extracted and not all(forms(m))], "untranslated strings"
    assert not [m.id for m in catalog if m.id and m.fuzzy], "fuzzy strings"
    assert not list(catalog.check()), "placeholders differ between a msgid and its translation"
    with open(catalogs.po_path(locale).with_suffix(".mo"), "rb") as f:
        mo = {frozen(m.id): frozen(m.string) for m in read_mo(f) if m.id}
    assert mo == translated, "the .mo file is stale: run python translations/catalogs.py"


def test_russian_is_actually_russian(extracted):
    catalog = catalogs.read("ru")
    untranslated = [m.id for m in catalog if m.id in extracted and not all(re.search("[а-яА-Я]", form) for form in forms(m))]
    # Only strings made of placeholders, symbols or product names may stay as they are.
    assert untranslated == []


class Links(HTMLParser):
    """Collects src and href attributes."""

    def __init__(self):
        """Start empty."""
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        """Keep every URL the page would load or link to."""
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def script_messages(html):
    """The catalog the page hands to its script."""
    match = re.search(r'<script id="messages-catalog" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(match.group(1))


@pytest.mark.parametrize(
    "accept, words",
    [("en-US,en;q=0.9", ["Send", "Stop", "Provider", "Model"]), ("ru-RU,ru;q=0.9", ["Отправить", "Остановить", "Провайдер", "Модель"])],
)
def test_page_follows_accept_language(client, accept, words):
    html = client.get("/", headers={"Accept-Language": accept}).get_data(as_text=True)
    for word in words:
        assert word in html


def test_script_strings_come_translated(client, app):
    en = script_messages(client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True))
    ru = script_messages(client.get("/", headers={"Accept-Language": "ru"}).get_data(as_text=True))
    msgids = app.extensions["webui.script_msgids"]
    assert "Disconnected. Reconnecting…" in msgids
    assert set(en) == set(ru) == set(msgids)
    assert all(en[m] == m for m in msgids)
    assert all(ru[m] != m for m in msgids)


def test_language_choice_is_remembered_over_accept_language(client):
    response = client.get("/?lang=ru", headers={"Accept-Language": "en"})
    assert "Отправить" in response.get_data(as_text=True)
    assert any(c.startswith("webui_lang=ru") for c in response.headers.getlist("Set-Cookie"))
    assert "Отправить" in client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    client.get("/?lang=en")
    assert "Send" in client.get("/", headers={"Accept-Language": "ru"}).get_data(as_text=True)


def test_unknown_language_falls_back_to_english(client):
    html = client.get("/?lang=xx", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert 'lang="en"' in html and "Send" in html


def test_page_loads_nothing_from_other_hosts(client):
    parser = Links()
    parser.feed(client.get("/").get_data(as_text=True))
    assert parser.urls, "the page links nothing at all?"
    foreign = [url for url in parser.urls if re.match(r"^([a-z]+:)?//", url, re.I)]
    assert foreign == []
    for url in parser.urls:
        if url.startswith("/static/"):
            assert client.get(url).status_code == 200


# A call of _() or ngettext() with a literal first argument, wherever it stands in a page script; and a comment line.
SCRIPT_CALL = re.compile(r"""\b(?:_|ngettext)\(\s*"((?:[^"\\]|\\.)*)\"""")
COMMENT_LINE = re.compile(r"^\s*//.*$", re.M)


def test_every_string_the_page_script_translates_is_in_its_catalog(app):
    """Whatever the script calls _() with (in a template literal too) is among the strings sent to the page: one babel
    could not read would stay English on a Russian page."""
    scripts = sorted((ROOT / "static").glob("*.js"))
    sources = [COMMENT_LINE.sub("", path.read_text(encoding="utf-8")) for path in scripts]
    called = {json.loads(f'"{text}"') for source in sources for text in SCRIPT_CALL.findall(source)}
    msgids = set(app.extensions["webui.script_msgids"]) | {singular for singular, _ in app.extensions["webui.script_plurals"]}
    assert "Disconnected. Reconnecting…" in called
    assert called - msgids == set()


def test_strings_inside_template_literals_are_extracted(tmp_path):
    # With the project's babel.cfg: babel reads inside `${…}` only when told to.
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "page.js").write_text('const row = `<b>${_("Inside a template")}</b> ${n}`;\nconst plain = _("Plain");\n')
    with open(ROOT / "babel.cfg", encoding="utf-8") as f:
        method_map, options_map = catalogs.parse_mapping_cfg(f)
    found = [message for _file, _line, message, _comments, _context in catalogs.extract_from_dir(tmp_path, method_map, options_map)]
    assert sorted(found) == ["Inside a template", "Plain"]
