"""Connections from the page: /api/connections over real HTTP, its test endpoint, how providers and sockets follow."""
import logging
import re

import pytest
from click.testing import CliRunner

from conftest import Browser, chat
from fake_upstream import (  # noqa: F401 (fixtures)
    MODELS,
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
from webui.commands.cli import main

pytestmark = pytest.mark.both_databases

CANARY = "sk-canary0x9fConnKEY77Zq"
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
