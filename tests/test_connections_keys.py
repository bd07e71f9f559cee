"""A connection's key: sent only to the server it was entered for, found in no response, log or column, and kept
encrypted under the server's secret key."""
import json
import logging
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import Browser, LiveServer
from databases import run_sql
from fake_upstream import OPENAI_CHAT, FakeUpstream, echo_key, upstream, webui  # noqa: F401 (fixtures)
from test_connections import CANARY, CYRILLIC, lab, listed, send
from webui import create_app
from webui.commands.cli import main
from webui.config import ConfigError
from webui.secrets import SecretBox, SecretError, get_box

pytestmark = pytest.mark.both_databases

SECRET = "a-secret-setting-of-some-length-1"


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
