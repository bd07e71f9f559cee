"""Connections from the page: /api/connections over real HTTP, their effect on providers and sockets, keys kept secret."""
import json
import logging
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import Browser, LiveServer, chat
from databases import run_sql
from fake_upstream import (  # noqa: F401 (fixtures)
    MODELS,
    FakeUpstream,
    OPENAI_CHAT,
    answer,
    closed_port,
    echo_key,
    openai_steps,
    silence,
    stream,
    upstream,
    webui,
)
from webui import create_app
from webui.commands.cli import main
from webui.config import ConfigError
from webui.secrets import SecretBox, SecretError, get_box

pytestmark = pytest.mark.both_databases

CANARY = "sk-canary0x9fConnKEY77Zq"
SECRET = "a-secret-setting-of-some-length-1"
CYRILLIC = re.compile("[а-яА-Я]")


def send(browser, method, path, **kwargs):
    """A request as the page sends it: with Origin and the page's CSRF token."""
    headers = {"X-CSRF-Token": browser.csrf_token(), **kwargs.pop("headers", {})}
    return browser.http.request(method, browser.url + path, allow_redirects=False, timeout=15, headers=headers, **kwargs)


def lab(upstream, **fields):
    """The body of a connection to the fake server's OpenAI API."""
    return {"name": "lab", "type": "openai", "base_url": upstream.url + "/v1", **fields}


def providers(browser):
    """The /api/providers entries by name."""
    return {p["name"]: p for p in browser.get("/api/providers").json()["providers"]}


def listed(browser):
    """The connections GET /api/connections lists."""
    response = browser.get("/api/connections")
    assert response.status_code == 200
    return response.json()["connections"]


def refused_in_both_languages(browser, path, body, status):
    """POST `body` to `path` in English, then the same in Russian: both refused with `status` and the same code, the
    Russian words in Russian. The English response."""
    english = send(browser, "POST", path, json=body)
    russian = send(browser, "POST", path, json=body, headers={"Accept-Language": "ru"})
    for response in (english, russian):
        assert response.status_code == status, response.text
    assert russian.json()["error"]["code"] == english.json()["error"]["code"], russian.text
    assert CYRILLIC.search(russian.json()["error"]["message"]), russian.text
    return english


def stored_bytes(server):
    """Every byte of the conversations' database files (the WAL too)."""
    folder = Path(server.app.config["WEBUI_DATA_DIR"])
    return b"".join(path.read_bytes() for path in folder.glob("webui.sqlite3*"))


def test_a_stored_key_goes_only_to_the_server_it_was_entered_for(upstream, webui):
    other = FakeUpstream()
    try:
        server = webui([])
        admin = Browser(server.url)
        connection = send(admin, "POST", "/api/connections", json=lab(upstream, api_key=CANARY)).json()
        path = f"/api/connections/{connection['id']}"
        elsewhere = {"base_url": other.url + "/v1"}
        for method, target, body in (("PATCH", path, elsewhere), ("POST", "/api/connections/test", {"id": connection["id"], **elsewhere})):
            refused = send(admin, method, target, json=body, headers={"Accept-Language": "ru"})
            assert (refused.status_code, refused.json()["error"]["field"]) == (400, "api_key"), refused.text
            assert CYRILLIC.search(refused.json()["error"]["message"])
        assert other.seen == [] and listed(admin) == [connection]
        # Another path on the same server keeps the key; another server takes the key given with it.
        moved = send(admin, "PATCH", path, json={"base_url": upstream.url + "/v1/"})
        assert (moved.status_code, moved.json()["key_hint"]) == (200, "…" + CANARY[-4:]), moved.text
        given = send(admin, "PATCH", path, json={**elsewhere, "api_key": "sk-the-other-servers-key"})
        assert given.status_code == 200, given.text
        assert CANARY not in str([seen.headers for seen in other.seen])
    finally:
        other.close()


def test_a_connection_is_added_changed_disabled_and_removed_and_the_providers_follow_at_once(upstream, webui):
    server = webui([])
    admin = Browser(server.url)
    assert listed(admin) == [] and "lab" not in providers(admin)

    created = send(admin, "POST", "/api/connections", json=lab(upstream, api_key=CANARY))
    assert created.status_code == 201, created.text
    connection = created.json()
    assert connection == {
        "id": connection["id"], "name": "lab", "type": "openai", "base_url": upstream.url + "/v1", "models": None,
        "context_length": None, "vision": False, "enabled": True, "key_set": True, "key_hint": "…" + CANARY[-4:],
        "source": "page",
    }
    assert listed(admin) == [connection]
    now = providers(admin)
    assert now["lab"]["available"] and now["lab"]["models"] == MODELS and "auto" in now
    assert {r.headers["Authorization"] for r in upstream.requests_to("/v1/models")} == {f"Bearer {CANARY}"}

    path = f"/api/connections/{connection['id']}"
    changed = send(admin, "PATCH", path, json={"models": ["other-model"], "context_length": 4096, "vision": True})
    assert changed.status_code == 200, changed.text
    assert changed.json()["models"] == ["other-model"] and changed.json()["context_length"] == 4096
    assert changed.json()["vision"] is True and changed.json()["key_hint"] == "…" + CANARY[-4:], "the key was kept"
    assert providers(admin)["lab"]["models"] == ["other-model"]

    assert send(admin, "PATCH", path, json={"enabled": False}).json()["enabled"] is False
    assert "lab" not in providers(admin) and "auto" not in providers(admin)
    assert listed(admin)[0]["enabled"] is False, "a disabled connection is still listed on its page"

    renamed = send(admin, "PATCH", path, json={"enabled": True, "name": "lab2", "api_key": "sk-another-key-1234"}).json()
    assert renamed["name"] == "lab2" and renamed["key_hint"] == "…1234"
    assert "lab2" in providers(admin) and "lab" not in providers(admin)
    cleared = send(admin, "PATCH", path, json={"api_key": None}).json()
    assert cleared["key_set"] is False and cleared["key_hint"] is None
    assert send(admin, "PATCH", path, json={"api_key": "sk-third-key-9876"}).json()["key_set"] is True
    assert send(admin, "PATCH", path, json={"api_key": ""}).json()["key_set"] is False

    assert send(admin, "DELETE", path).status_code == 204
    assert listed(admin) == [] and "lab2" not in providers(admin)
    again = send(admin, "DELETE", path)
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
    assert send(admin, "PATCH", path, json={"name": "x"}).status_code == 404


def test_a_socket_opened_before_the_connection_uses_it_and_loses_it_when_removed(upstream, webui):
    server = webui([])
    admin = Browser(server.url)
    ws = admin.connect()
    connection = send(admin, "POST", "/api/connections", json=lab(upstream)).json()
    ws.send(chat("c1", provider="lab", model="fake-model"))
    frames = ws.until_final("c1")
    assert frames[0]["type"] == "start" and frames[0]["provider"] == "lab"
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == "Hello, world" and frames[-1]["type"] == "done"

    ws.send(chat("c2", provider="auto", model="default"))
    assert ws.until_final("c2")[0]["provider"] == "lab", "auto falls back over the page's connections too"

    send(admin, "DELETE", f"/api/connections/{connection['id']}")
    ws.send(chat("c3", provider="lab", model="fake-model"))
    assert ws.until_final("c3")[-1]["code"] == "unknown_provider"


def test_an_answer_running_on_a_removed_connection_may_finish(upstream, webui):
    upstream.on("POST", OPENAI_CHAT, stream(*openai_steps(["one", " two", " three"], pause=0.3)))
    server = webui([])
    admin = Browser(server.url)
    connection = send(admin, "POST", "/api/connections", json=lab(upstream)).json()
    ws = admin.connect()
    ws.send(chat("r", provider="lab", model="fake-model"))
    first = ws.recv()
    assert first["type"] == "start"
    assert send(admin, "DELETE", f"/api/connections/{connection['id']}").status_code == 204
    frames = [first, *ws.until_final("r")]
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == "one two three"
    assert frames[-1]["type"] == "done"


def test_the_test_endpoint_lists_the_models_live_and_stores_nothing(upstream, webui):
    server = webui([])
    admin = Browser(server.url)
    found = send(admin, "POST", "/api/connections/test", json=lab(upstream, api_key=CANARY, models=["only-this"]))
    assert found.status_code == 200 and found.json() == {"models": MODELS}
    assert upstream.requests_to("/v1/models")[-1].headers["Authorization"] == f"Bearer {CANARY}"
    ollama = send(admin, "POST", "/api/connections/test", json={"type": "ollama", "base_url": upstream.url})
    assert ollama.status_code == 200 and ollama.json() == {"models": MODELS}
    assert "Authorization" not in upstream.requests_to("/api/tags")[-1].headers
    assert listed(admin) == [] and "lab" not in providers(admin)

    connection = send(admin, "POST", "/api/connections", json=lab(upstream, api_key=CANARY)).json()
    again = send(admin, "POST", "/api/connections/test", json={"id": connection["id"], "base_url": upstream.url + "/v1/"})
    assert again.json() == {"models": MODELS}
    assert upstream.requests_to("/v1/models")[-1].headers["Authorization"] == f"Bearer {CANARY}", "the stored key"
    missing = send(admin, "POST", "/api/connections/test", json={"id": "nope", "type": "openai"})
    assert missing.status_code == 404


FAILURES = {
    "unreachable": (None, "Cannot connect to"),
    "not_api": (answer(200, b"<!doctype html><html><body>Welcome</body></html>", "text/html"), "a web page, not JSON"),
    "auth_failed": (echo_key(401), "rejected the key (HTTP 401)"),
    "timeout": (silence(10), "No answer from"),
    "not_found": (answer(404, b"<html>no</html>", "text/html"), "has nothing at /v1/models"),
}


@pytest.mark.parametrize("code", FAILURES)
def test_the_test_endpoint_says_why_a_server_cannot_be_used(upstream, webui, caplog, code):
    caplog.set_level(logging.DEBUG)
    behaviour, words = FAILURES[code]
    base_url = f"http://127.0.0.1:{closed_port()}/v1" if behaviour is None else upstream.url + "/v1"
    if behaviour is not None:
        upstream.on("GET", "/v1/models", behaviour)
    server = webui([])
    admin = Browser(server.url)
    response = refused_in_both_languages(admin, "/api/connections/test", lab(upstream, base_url=base_url, api_key=CANARY), 502)
    assert response.json()["error"]["code"] == code and words in response.json()["error"]["message"]
    assert CANARY not in response.text and CANARY not in caplog.text
    assert listed(admin) == []


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


def test_servers_of_the_config_file_are_listed_read_only(upstream, webui):
    config_key = "sk-from-the-config-5678"
    entry = {"name": "cfg", "type": "ollama", "base_url": upstream.url, "api_key": config_key, "models": ["m"]}
    server = webui([entry])
    admin = Browser(server.url)
    response = admin.get("/api/connections")
    assert config_key not in response.text
    assert response.json()["connections"] == [
        {
            "id": "config-1", "name": "cfg", "type": "ollama", "base_url": upstream.url, "models": ["m"],
            "context_length": None, "vision": False, "enabled": True, "key_set": True, "key_hint": "…5678",
            "source": "config",
        }
    ]
    for method, body in (("PATCH", {"name": "x"}), ("DELETE", None)):
        refused = send(admin, method, "/api/connections/config-1", json=body)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "read_only"
        assert "configuration file" in refused.json()["error"]["message"]
    taken = send(admin, "POST", "/api/connections", json=lab(upstream, name="cfg"))
    assert taken.status_code == 400 and "already taken" in taken.json()["error"]["message"]
    added = send(admin, "POST", "/api/connections", json=lab(upstream)).json()
    assert [c["source"] for c in listed(admin)] == ["config", "page"]
    assert list(providers(admin)) == ["local", "cfg", "lab", "auto"]
    assert send(admin, "DELETE", f"/api/connections/{added['id']}").status_code == 204


def test_the_key_is_found_in_no_response_frame_export_log_or_database_column(upstream, webui, caplog):
    caplog.set_level(logging.DEBUG)
    upstream.on("POST", OPENAI_CHAT, echo_key(401))
    server = webui([])
    admin = Browser(server.url)
    texts = []
    created = send(admin, "POST", "/api/connections", json=lab(upstream, api_key=CANARY, models=["fake-model"]))
    connection = created.json()
    path = f"/api/connections/{connection['id']}"
    texts += [created.text, admin.get("/api/connections").text, admin.get("/api/providers").text, admin.get("/").text]
    texts.append(send(admin, "PATCH", path, json={"context_length": 2048}).text)
    texts.append(send(admin, "POST", "/api/connections/test", json={"id": connection["id"]}).text)
    texts.append(send(admin, "POST", "/api/check", json={"providers": ["lab"]}).text)

    ws = admin.connect()
    ws.send({"type": "chat", "request_id": "t", "conversation_id": None, "provider": "lab", "model": "fake-model", "content": "hi"})
    frames = ws.until_final("t")
    assert frames[-1]["code"] == "auth_failed", "the key was sent, and the server echoed it"
    texts.append(json.dumps(frames))
    conversation_id = next(f["conversation_id"] for f in frames if f.get("conversation_id"))
    texts += [admin.get(f"/api/conversations/{conversation_id}/export?format={kind}").text for kind in ("json", "md")]
    texts.append(admin.get(f"/api/conversations/{conversation_id}").text)
    texts += [caplog.text, *(record.getMessage() for record in caplog.records)]
    for text in texts:
        assert CANARY not in text
    assert upstream.requests_to(OPENAI_CHAT)[-1].headers["Authorization"] == f"Bearer {CANARY}"

    assert CANARY.encode() not in stored_bytes(server)
    (token,) = run_sql(server.app, "SELECT api_key FROM connections")[0]
    assert all(CANARY not in str(value) for value in run_sql(server.app, "SELECT * FROM connections")[0])
    with server.app.app_context():
        assert get_box().decrypt(token) == CANARY
    with pytest.raises(SecretError):
        SecretBox(bytes(32)).decrypt(token)


def test_a_wrong_secret_key_stops_the_start_clearly_and_loses_nothing(upstream, tmp_path):
    settings = {"TESTING": True, "WEBUI_DATA_DIR": str(tmp_path / "data"), "WEBUI_SECRET_KEY": SECRET}
    server = LiveServer(create_app(settings))
    try:
        created = send(Browser(server.url), "POST", "/api/connections", json=lab(upstream, api_key=CANARY))
        assert created.status_code == 201, created.text
    finally:
        server.stop()
    database = tmp_path / "data" / "webui.sqlite3"
    before = sqlite3.connect(database).execute("SELECT * FROM connections").fetchall()

    with pytest.raises(ConfigError, match="cannot be read with this server's secret key"):
        create_app({**settings, "WEBUI_SECRET_KEY": "another-secret-setting-entirely"})
    env = {"WEBUI_DATA_DIR": str(tmp_path / "data"), "WEBUI_SECRET_KEY": "another-secret-setting-entirely", "LANG": "C"}
    result = CliRunner().invoke(main, ["check", "--provider", "lab"], env=env)
    assert result.exit_code == 1 and "nothing was changed" in result.output and "Traceback" not in result.output
    assert sqlite3.connect(database).execute("SELECT * FROM connections").fetchall() == before

    again = create_app(settings)
    assert "lab" in {p["name"] for p in again.test_client().get("/api/providers").get_json()["providers"]}


def test_webui_check_uses_the_connections(upstream, webui):
    server = webui([])
    admin = Browser(server.url)
    send(admin, "POST", "/api/connections", json=lab(upstream, api_key=CANARY))
    env = {"WEBUI_DATA_DIR": server.app.config["WEBUI_DATA_DIR"], "WEBUI_DATABASE_URL": server.app.config["WEBUI_DATABASE_URL"],
           "LANG": "C", "WEBUI_TITLES": "0"}
    result = CliRunner().invoke(main, ["check", "--provider", "lab"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("lab: ok (fake-model)") and CANARY not in result.output


def test_every_change_needs_the_csrf_token(upstream, webui):
    server = webui([])
    admin = Browser(server.url)
    for method, path in (("POST", "/api/connections"), ("POST", "/api/connections/test")):
        refused = admin.http.request(method, server.url + path, json=lab(upstream), timeout=10)
        assert refused.status_code == 403, (method, path)
    connection = send(admin, "POST", "/api/connections", json=lab(upstream)).json()
    for method in ("PATCH", "DELETE"):
        refused = admin.http.request(method, f"{server.url}/api/connections/{connection['id']}", json={}, timeout=10)
        assert refused.status_code == 403
    assert listed(admin) == [connection]
