"""Personal API tokens: kept only as hashes, made and revoked on the page and with `webui token`, owned by one person."""
import hashlib
import time
from pathlib import Path

import openai
import pytest

from api_client import HELLO, client, new_token, page_token
from conftest import Browser
from databases import run_sql
from test_auth import add_user, signed_in, webui
from test_security import serve  # noqa: F401 (a fixture)
from webui import create_app

pytestmark = pytest.mark.both_databases


def rows(app_config):
    """The api_tokens table as stored."""
    app = create_app(app_config)
    return [dict(zip(row.keys(), row)) for row in run_sql(app, "SELECT * FROM api_tokens")]


def test_a_token_is_shown_once_and_stored_only_as_its_hash(app_config, server):
    token, browser = new_token(server.url, "my editor")
    assert token.startswith("webui_") and len(token) >= 6 + 12 + 1 + 43
    [row] = rows(app_config)
    assert row["hash"] == hashlib.sha256(token.encode()).hexdigest() and row["name"] == "my editor"
    data = Path(app_config["WEBUI_DATA_DIR"])
    # The secret is what follows "webui_<id>_"; it may itself hold "_" (URL-safe base64).
    secret = token.split("_", 2)[2].encode()
    assert len(secret) == 43
    assert not any(secret in path.read_bytes() for path in data.iterdir() if path.is_file())
    [listed] = browser.get("/api/tokens").json()["tokens"]
    assert listed == {"id": row["id"], "name": "my editor", "prefix": f"webui_{row['id']}_", "created_at": listed["created_at"],
                      "last_used_at": None}
    assert token not in browser.get("/api/tokens").text


def test_using_a_token_notes_when_it_was_last_used(server):
    token, browser = new_token(server.url)
    client(server.url, token).models.list()
    [listed] = browser.get("/api/tokens").json()["tokens"]
    assert listed["last_used_at"] is not None and listed["last_used_at"] >= listed["created_at"]


def test_the_page_refuses_bad_names_and_other_peoples_tokens(server):
    browser = Browser(server.url)
    for body in ({"name": ""}, {"name": "x" * 101}, {}, {"name": "ok", "scope": "all"}, {"name": 5}):
        response = browser.post("/api/tokens", json=body)
        assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request", body
    assert browser.get("/api/tokens").json()["tokens"] == []
    token = page_token(browser)
    stranger = Browser(server.url)
    assert stranger.get("/api/tokens").json()["tokens"] == []
    token_id = token.split("_")[1]
    refused = stranger.http.delete(f"{server.url}/api/tokens/{token_id}", headers={"X-CSRF-Token": stranger.csrf_token()}, timeout=10)
    assert refused.status_code == 404
    assert client(server.url, token).models.list().data
    # Another site's page cannot make a token with the browser's cookies.
    forged = browser.http.post(f"{server.url}/api/tokens", json={"name": "x"}, headers={"Origin": "http://evil.example"}, timeout=10)
    assert forged.status_code == 403 and len(browser.get("/api/tokens").json()["tokens"]) == 1


def test_token_commands_add_list_and_revoke(app_config, server):
    add_user(app_config)
    added = webui(app_config, "token", "add", "alice", "--name", "ci runner")
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert token.startswith("webui_") and "is not shown again" in added.stderr
    assert client(server.url, token).models.list().data
    listed = webui(app_config, "token", "list", "alice")
    [line] = listed.stdout.splitlines()
    token_id, name, _created, used = line.split("\t")
    assert token.startswith(f"webui_{token_id}_") and name == "ci runner" and used != "never used"
    assert token not in listed.output
    revoked = webui(app_config, "token", "revoke", "alice", token_id)
    assert revoked.exit_code == 0 and token_id in revoked.stdout
    with pytest.raises(openai.AuthenticationError):
        client(server.url, token).models.list()
    assert webui(app_config, "token", "revoke", "alice", token_id).exit_code == 1
    assert "no API tokens" in webui(app_config, "token", "list", "alice").stderr
    assert "no user called" in webui(app_config, "token", "add", "bob").output


def test_token_commands_without_accounts_send_people_to_the_page(app_config):
    result = webui(app_config, "token", "add", "alice")
    assert result.exit_code == 1 and "make one on the page" in result.output


def test_a_users_token_carries_their_rights_and_ends_with_their_account(app_config, serve):
    add_user(app_config)
    server = serve(WEBUI_API_STORE=True)
    alice = signed_in(server)
    token = page_token(alice)
    client(server.url, token).chat.completions.create(model="testing/echo", messages=[{"role": "user", "content": "from my editor"}])
    # Stored under alice, so it shows in her sidebar on any browser she signs in on.
    [conversation] = signed_in(server).get("/api/conversations").json()["conversations"]
    assert conversation["title"] == "from my editor"
    assert webui(app_config, "user", "delete", "alice").exit_code == 0
    with pytest.raises(openai.AuthenticationError):
        client(server.url, token).models.list()
    assert rows(app_config) == []


def test_a_browsers_token_stops_working_once_the_server_has_accounts(app_config, server):
    token, _browser = new_token(server.url)
    assert client(server.url, token).models.list().data
    add_user(app_config)
    with pytest.raises(openai.AuthenticationError, match="before the server had accounts"):
        client(server.url, token).models.list()


def test_a_token_revoked_by_the_command_mid_stream_stops_within_two_seconds(app_config, server, testing_provider):
    add_user(app_config)
    token = webui(app_config, "token", "add", "alice").stdout.strip()
    chunks = iter(client(server.url, token).chat.completions.create(model="testing/slow", messages=HELLO, stream=True))
    next(chunks), next(chunks)
    # Another process: the server learns of it only from the database.
    revoked_at = time.monotonic()
    assert webui(app_config, "token", "revoke", "alice", token).exit_code == 0
    with pytest.raises(openai.APIError, match="revoked"):
        for _chunk in chunks:
            pass
    assert time.monotonic() - revoked_at < 2
    assert testing_provider().closed_event.wait(2) and testing_provider().closed == ["slow"]

