"""Connections refused: bad input is refused in words, on the field it is about, with nothing stored; names are unique."""
import pytest

from conftest import Browser
from fake_upstream import MODELS, upstream, webui  # noqa: F401 (fixtures)
from test_connections import CANARY, lab, listed, providers, refused_in_both_languages, send

pytestmark = pytest.mark.both_databases


def refusals(field, words, *values):
    """Bodies that give `field` each of `values`, all refused with `words`."""
    return [({field: value}, words) for value in values]


BAD = [
    ([], "must be a JSON object"),
    ({"base-url": "http://127.0.0.1/v1"}, "“base-url” is not a field"),
    *refusals("name", "The name must be", None, "two words", "[[providers]] #1", "n" * 10_000),
    *refusals("name", "already taken", "local", "auto", "testing"),
    *refusals("type", "“openai” or “ollama”", "anthropic", "t" * 10_000),
    ({"base_url": None}, "“base_url” is required"),
    *refusals("base_url", "http:// or https://", "ftp://127.0.0.1/v1", "127.0.0.1:8080/v1", "http:///v1", "http://127.0.0.1:99999/v1"),
    *refusals("base_url", "without spaces", "not a url", "http://127.0.0.1/v1\nHost: evil"),
    ({"base_url": "http://user:secret@127.0.0.1/v1"}, "user name or password"),
    ({"base_url": "http://127.0.0.1/" + "v" * 10_000}, "at most 2000 characters"),
    *refusals("api_key", "one line", "sk-abc\ndef-ghi", "sk-abc def", 12345),
    ({"api_key": "k" * 10_000}, "at most 4096"),
    *refusals("models", "“models” must be a list", [], "all", [""]),
    ({"models": ["m" * 10_000]}, "at most 200 characters"),
    *refusals("context_length", "“context_length” must be a whole number", 0, "4096", 1.5, True),
    ({"context_length": 10**12}, "at most 10000000"),
    ({"vision": "yes"}, "true or false"),
    ({"enabled": 1}, "true or false"),
]


@pytest.fixture
def dropin_server(webui, providers_dir):
    """A server with the test drop-ins (so the name `testing` is taken) and an admin at it."""
    server = webui([], WEBUI_PROVIDERS_DIR=str(providers_dir))
    return server, Browser(server.url)


@pytest.mark.parametrize("change, words", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input_is_refused_in_words_and_nothing_is_stored(upstream, dropin_server, change, words):
    server, admin = dropin_server
    body = {**lab(upstream), **change} if isinstance(change, dict) else change
    response = refused_in_both_languages(admin, "/api/connections", body, 400)
    assert response.json()["error"]["code"] == "bad_request" and words in response.json()["error"]["message"]
    assert listed(admin) == [] and "lab" not in providers(admin)

    # A change to a stored connection is refused the same way, and the connection is as it was.
    connection = send(admin, "POST", "/api/connections", json=lab(upstream, api_key=CANARY)).json()
    if isinstance(change, dict):
        patched = send(admin, "PATCH", f"/api/connections/{connection['id']}", json=change)
        assert patched.status_code == 400 and words in patched.json()["error"]["message"], patched.text
    assert listed(admin) == [connection]
    assert providers(admin)["lab"]["models"] == MODELS


FIELDS = [
    ({"name": "two words"}, "name"),
    ({"name": "-dash"}, "name"),
    ({"type": "anthropic"}, "type"),
    ({"type": []}, "type"),
    ({"type": {}}, "type"),
    ({"base_url": "ftp://127.0.0.1/v1"}, "base_url"),
    ({"base_url": "http:///v1"}, "base_url"),
    ({"base_url": None}, "base_url"),
    ({"api_key": "sk-abc def"}, "api_key"),
    ({"models": []}, "models"),
    ({"models": ["m" * 10_000]}, "models"),
    ({"context_length": 0}, "context_length"),
    ({"context_length": 10**12}, "context_length"),
    ({"enabled": 1}, "enabled"),
]


@pytest.mark.parametrize("change, field", FIELDS, ids=[str(i) for i in range(len(FIELDS))])
def test_a_refused_field_is_named_so_the_page_can_show_the_error_on_it(upstream, dropin_server, change, field):
    server, admin = dropin_server
    for path in ("/api/connections", "/api/connections/test"):
        refused = send(admin, "POST", path, json={**lab(upstream), **change})
        assert refused.status_code == 400 and refused.json()["error"]["field"] == field, (path, refused.text)
    taken = send(admin, "POST", "/api/connections", json=lab(upstream, name="testing")).json()["error"]
    assert taken["field"] == "name" and "already taken" in taken["message"]
    unknown = send(admin, "POST", "/api/connections", json={**lab(upstream), "colour": "red"}).json()["error"]
    assert "field" not in unknown, "a field the form does not have is said in the message alone"


def test_a_name_is_unique_among_connections(upstream, webui):
    server = webui([])
    admin = Browser(server.url)
    first = send(admin, "POST", "/api/connections", json=lab(upstream)).json()
    second = send(admin, "POST", "/api/connections", json=lab(upstream))
    assert second.status_code == 400 and "already taken" in second.json()["error"]["message"]
    other = send(admin, "POST", "/api/connections", json=lab(upstream, name="other", enabled=False)).json()
    clash = send(admin, "PATCH", f"/api/connections/{other['id']}", json={"name": "lab"})
    assert clash.status_code == 400 and "already taken" in clash.json()["error"]["message"]
    assert send(admin, "PATCH", f"/api/connections/{first['id']}", json={"name": "lab"}).status_code == 200
