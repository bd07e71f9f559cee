"""Keys for drop-in modules entered from the page: /api/module-keys over real HTTP and sockets, admins only, sealed."""
import json
import logging
import re
import sys
from pathlib import Path

import pytest

from conftest import Browser, LiveServer, chat
from databases import run_sql
from test_auth import add_user, signed_in
from test_connections import send
from webui import create_app
from webui.config import ConfigError
from webui.providers.registry import DROPIN_PACKAGE
from webui.secrets import SecretBox, SecretError, get_box

pytestmark = pytest.mark.both_databases

CANARY = "sk-canary0x9fModuleKEY41Wq"
CONFIG_KEY = "sk-from-the-config-file-8765"
SECRET = "a-secret-setting-of-some-length-2"
CYRILLIC = re.compile("[а-яА-Я]")

# A drop-in that needs a key: it answers only when it has one, and keeps the keys it was given for the test to read.
# Its model `leaky` fails with the key in its error, which the page must see redacted.
KEYED_MODULE = '''
url = "http://127.0.0.1/keyed"
model = ["keyed-model", "leaky"]
supports_stream = True
needs_auth = True
seen_keys = []


def _create_completion(model, messages, stream, **kwargs):
    seen_keys.append(kwargs["auth"])
    if model == "leaky":
        raise RuntimeError("the service refused the key " + kwargs["auth"])
    yield "the key was given"
'''


@pytest.fixture
def keyed(providers_dir):
    """The `keyed` module in the drop-ins folder (before the app is made); returns its keys seen, once loaded."""
    (providers_dir / "keyed.py").write_text(KEYED_MODULE)
    return lambda: sys.modules[f"{DROPIN_PACKAGE}.keyed"].seen_keys


def modules(browser):
    """GET /api/module-keys's modules by name."""
    response = browser.get("/api/module-keys")
    assert response.status_code == 200, response.text
    return {module["name"]: module for module in response.json()["modules"]}


def providers(browser):
    """The /api/providers entries by name."""
    return {p["name"]: p for p in browser.get("/api/providers").json()["providers"]}


def stored_bytes(server):
    """Every byte of the conversations' database files (the WAL too)."""
    return b"".join(path.read_bytes() for path in Path(server.app.config["WEBUI_DATA_DIR"]).glob("webui.sqlite3*"))


def stored_rows(server):
    """The rows of the module_keys table."""
    return [tuple(row) for row in run_sql(server.app, "SELECT * FROM module_keys")]


def test_a_key_entered_on_the_page_is_in_effect_at_once_on_an_open_socket_and_wins_over_the_config_file(
    app_config, keyed, caplog
):
    caplog.set_level(logging.DEBUG)
    server = LiveServer(create_app({**app_config, "WEBUI_PROVIDER_KEYS": {"keyed": CONFIG_KEY}}))
    try:
        admin = Browser(server.url)
        texts = []
        assert modules(admin) == {"keyed": {"name": "keyed", "key_set": True, "key_hint": "…8765", "source": "config"}}
        ws = admin.connect()
        ws.send(chat("c1", provider="keyed", model="keyed-model"))
        assert ws.until_final("c1")[-1]["type"] == "done" and keyed()[-1] == CONFIG_KEY

        put = send(admin, "PUT", "/api/module-keys/keyed", json={"api_key": CANARY})
        assert put.status_code == 200, put.text
        assert put.json() == {"name": "keyed", "key_set": True, "key_hint": "…" + CANARY[-4:], "source": "page"}
        texts += [put.text, admin.get("/api/module-keys").text, admin.get("/api/providers").text, admin.get("/").text]
        # The same socket, no restart: the page's key is the one given.
        ws.send(chat("c2", provider="keyed", model="keyed-model"))
        frames = ws.until_final("c2")
        assert frames[-1]["type"] == "done" and keyed()[-1] == CANARY
        ws.send(chat("c3", provider="keyed", model="leaky"))
        error = ws.until_final("c3")[-1]
        assert error["type"] == "error" and "the key [redacted]" in error["message"]
        texts += [json.dumps(frames), json.dumps(error), caplog.text, *(r.getMessage() for r in caplog.records)]
        for text in texts:
            assert CANARY not in text

        assert CANARY.encode() not in stored_bytes(server)
        ((name, token, _updated),) = stored_rows(server)
        assert name == "keyed" and CANARY not in token
        with server.app.app_context():
            assert get_box().decrypt(token) == CANARY
        with pytest.raises(SecretError):
            SecretBox(bytes(32)).decrypt(token)

        # Removed: the config file's key is back, at once.
        assert send(admin, "DELETE", "/api/module-keys/keyed").status_code == 204
        assert modules(admin)["keyed"]["source"] == "config" and stored_rows(server) == []
        ws.send(chat("c4", provider="keyed", model="keyed-model"))
        assert ws.until_final("c4")[-1]["type"] == "done" and keyed()[-1] == CONFIG_KEY
    finally:
        server.stop()


def test_a_module_without_a_key_says_where_to_add_one_and_works_once_it_is_added(keyed, server):
    admin = Browser(server.url)
    assert modules(admin) == {"keyed": {"name": "keyed", "key_set": False, "key_hint": None, "source": None}}
    ws = admin.connect()
    ws.send(chat("k1", provider="keyed", model="keyed-model"))
    error = ws.until_final("k1")[-1]
    assert error["code"] == "needs_key" and "Settings → Connections" in error["message"]
    assert "Settings → Connections" in providers(admin)["keyed"]["error"]
    russian = admin.get("/api/providers", headers={"Accept-Language": "ru"}).json()
    assert "Настройки → Подключения" in {p["name"]: p for p in russian["providers"]}["keyed"]["error"]

    short = send(admin, "PUT", "/api/module-keys/keyed", json={"api_key": "short1"}).json()
    assert short == {"name": "keyed", "key_set": True, "key_hint": None, "source": "page"}, "a short key gets no hint"
    assert providers(admin)["keyed"]["available"]
    ws.send(chat("k2", provider="keyed", model="keyed-model"))
    assert ws.until_final("k2")[-1]["type"] == "done" and keyed()[-1] == "short1"
    assert send(admin, "DELETE", "/api/module-keys/keyed").status_code == 204
    ws.send(chat("k3", provider="keyed", model="keyed-model"))
    assert ws.until_final("k3")[-1]["code"] == "needs_key"


BAD_KEYS = [
    ({"api_key": "sk-abc\ndef-ghi"}, "one line"),
    ({"api_key": "sk-abc def"}, "one line"),
    ({"api_key": "k" * 10_000}, "at most 4096"),
    ({"api_key": 12345}, "one line"),
    ({"api_key": ""}, "Give the key"),
    ({"api_key": None}, "Give the key"),
    ({}, "Give the key"),
]


@pytest.mark.parametrize("body, words", BAD_KEYS, ids=[str(i) for i in range(len(BAD_KEYS))])
def test_a_bad_key_is_refused_on_its_field_in_words_and_nothing_is_stored(keyed, server, body, words):
    admin = Browser(server.url)
    refused = send(admin, "PUT", "/api/module-keys/keyed", json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == {"code": "bad_request", "message": refused.json()["error"]["message"], "field": "api_key"}
    assert words in refused.json()["error"]["message"]
    russian = send(admin, "PUT", "/api/module-keys/keyed", json=body, headers={"Accept-Language": "ru"})
    assert russian.status_code == 400 and CYRILLIC.search(russian.json()["error"]["message"]), russian.text
    assert stored_rows(server) == [] and modules(admin)["keyed"]["key_set"] is False
    assert not providers(admin)["keyed"]["available"]


def test_other_bodies_and_names_are_refused_and_change_nothing(keyed, server):
    admin = Browser(server.url)
    for body in ([], "sk-a-key", {"api_key": "sk-a-good-key-1", "name": "other"}):
        refused = send(admin, "PUT", "/api/module-keys/keyed", json=body)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_request", refused.text
    # Only a loaded module that needs a key has one: not one that needs none, a broken one, or none at all.
    for name in ("testing", "broken_module", "nothing", "n" * 10_000):
        for method in ("PUT", "DELETE"):
            refused = send(admin, method, f"/api/module-keys/{name}", json={"api_key": CANARY})
            assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found", (name, method)
    assert stored_rows(server) == [] and list(modules(admin)) == ["keyed"]


def test_only_an_admin_sees_or_changes_module_keys(app_config, keyed, server):
    add_user(app_config, "alice")  # the first account is an admin
    add_user(app_config, "bob")
    admin, user = signed_in(server, "alice"), signed_in(server, "bob")
    assert send(admin, "PUT", "/api/module-keys/keyed", json={"api_key": CANARY}).status_code == 200
    for method, body in (("GET", None), ("PUT", {"api_key": "sk-the-users-own-key"}), ("DELETE", None)):
        path = "/api/module-keys" if method == "GET" else "/api/module-keys/keyed"
        refused = send(user, method, path, json=body)
        assert refused.status_code == 403, (method, refused.text)
        assert refused.json()["error"]["code"] == "forbidden" and "keyed" not in refused.text
    assert modules(admin)["keyed"]["key_hint"] == "…" + CANARY[-4:], "the user changed nothing"
    assert Browser(server.url).get("/api/module-keys").status_code == 401


def test_every_change_needs_the_csrf_token(keyed, server):
    admin = Browser(server.url)
    for method in ("PUT", "DELETE"):
        refused = admin.http.request(method, f"{server.url}/api/module-keys/keyed", json={"api_key": CANARY}, timeout=10)
        assert refused.status_code == 403
    assert stored_rows(server) == []


def test_a_wrong_secret_key_stops_the_start_clearly_and_loses_nothing(app_config, keyed):
    settings = {**app_config, "WEBUI_SECRET_KEY": SECRET}
    server = LiveServer(create_app(settings))
    try:
        assert send(Browser(server.url), "PUT", "/api/module-keys/keyed", json={"api_key": CANARY}).status_code == 200
        before = stored_rows(server)
    finally:
        server.stop()
    with pytest.raises(ConfigError, match="cannot be read with this server's secret key"):
        create_app({**settings, "WEBUI_SECRET_KEY": "another-secret-setting-entirely"})
    again = LiveServer(create_app(settings))
    try:
        assert stored_rows(again) == before
        assert modules(Browser(again.url))["keyed"]["source"] == "page"
    finally:
        again.stop()
