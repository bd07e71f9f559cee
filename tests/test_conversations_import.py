"""Conversations exported and imported: JSON and Markdown, the files an import refuses, its limits, and the times and
text it carries."""
import json

import pytest

from databases import run_sql
from test_conversations_api import create, snapshot
from webui import create_app

pytestmark = pytest.mark.both_databases


def test_export_then_import_gives_the_same_conversation(client):
    conversation_id = create(
        client,
        [{"role": "user", "content": "Что такое «ёж»?\n\n```py\nprint(1)\n```"}, {"role": "assistant", "content": "A hedgehog."}],
        title="Ёжики",
        system_prompt="Answer in English.",
        options={"temperature": 0.1, "stop": ["END"]},
        provider="testing",
        model="echo",
    )
    response = client.get(f"/api/conversations/{conversation_id}/export?format=json")
    assert response.headers["Content-Disposition"] == f"attachment; filename=conversation-{conversation_id}.json"
    exported = response.json
    assert exported["format"] == "webui.conversation" and exported["version"] == 1
    assert exported["messages"][1] == {"role": "assistant", "content": "A hedgehog."}
    copy = client.post("/api/conversations/import", data=response.data, content_type="application/json")
    assert copy.status_code == 201 and copy.json["id"] != conversation_id
    assert client.get(f"/api/conversations/{copy.json['id']}/export").json == exported


def test_markdown_export(client):
    conversation_id = create(client, title="Notes", system_prompt="Be brief.\nVery.", model="echo")
    response = client.get(f"/api/conversations/{conversation_id}/export?format=md")
    assert response.mimetype == "text/markdown"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.get_data(as_text=True) == "# Notes\n\n**System prompt**\n\n> Be brief.\n> Very.\n\n## User\n\nhi\n\n## Assistant\n\nhello\n"


def test_a_plain_openai_messages_list_imports(client):
    response = client.post(
        "/api/conversations/import",
        json=[{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hello   there"}, {"role": "assistant", "content": "Hi!"}],
    )
    conversation = client.get(f"/api/conversations/{response.json['id']}").json
    assert conversation["title"] == "Hello there" and conversation["system_prompt"] == "Be kind."
    assert [(m["role"], m["content"]) for m in conversation["messages"]] == [("user", "Hello   there"), ("assistant", "Hi!")]


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "42",
        "null",
        json.dumps({"title": "no messages"}),
        json.dumps({"messages": "hi"}),
        json.dumps([]),
        json.dumps([{"role": "tool", "content": "x"}]),
        json.dumps([{"role": "user"}]),
        json.dumps([{"role": "user", "content": ["parts"]}]),
        json.dumps(["hello"]),
        json.dumps([{"role": "system", "content": "only a prompt"}]),
        json.dumps([{"role": "user", "content": "x"}, {"role": "system", "content": "late"}]),
        json.dumps({"system_prompt": "x", "messages": [{"role": "system", "content": "twice"}, {"role": "user", "content": "x"}]}),
        json.dumps([{"role": "user", "content": "x" * 1_000_001}]),
        json.dumps([{"role": "user", "content": "x"}] * 10_001),
        json.dumps({"format": "something-else", "messages": [{"role": "user", "content": "x"}]}),
        json.dumps({"version": 99, "messages": [{"role": "user", "content": "x"}]}),
        json.dumps({"title": "", "messages": [{"role": "user", "content": "x"}]}),
        json.dumps({"options": {"temperature": "hot"}, "messages": [{"role": "user", "content": "x"}]}),
        json.dumps({"created_at": "yesterday", "messages": [{"role": "user", "content": "x"}]}),
        json.dumps({"created_at": "9999-12-31T23:59:59-14:00", "messages": [{"role": "user", "content": "x"}]}),
        json.dumps({"created_at": "0001-01-01T00:00:00+14:00", "messages": [{"role": "user", "content": "x"}]}),
        json.dumps({"created_at": "1969-12-31T23:59:59Z", "messages": [{"role": "user", "content": "x"}]}),
        json.dumps({"model": 5, "messages": [{"role": "user", "content": "x"}]}),
    ],
)
def test_bad_import_files_are_refused_and_store_nothing(client, app, body):
    create(client)
    before = snapshot(app)
    response = client.post("/api/conversations/import", data=body, content_type="application/json")
    assert response.status_code == 400
    error = response.json["error"]
    assert error["code"] in ("invalid_import", "bad_request") and error["message"]
    assert snapshot(app) == before


@pytest.mark.parametrize("created_at", ["1970-01-01T00:00:00+00:00", "9999-12-31T23:59:59Z"])
def test_the_first_and_last_times_import(client, created_at):
    conversation_id = create(client, created_at=created_at)
    expected = created_at.replace("+00:00", "Z").replace("Z", ".000Z")
    assert client.get(f"/api/conversations/{conversation_id}").json["created_at"] == expected


@pytest.mark.parametrize("stored, shown", [(1e300, "9999-12-31T23:59:59.000Z"), (-1e300, "1970-01-01T00:00:00.000Z")])
def test_a_time_stored_out_of_range_shows_at_its_end_and_fails_nothing(client, app, stored, shown):
    conversation_id = create(client)
    run_sql(app, "UPDATE conversations SET created_at = ?", (stored,))
    run_sql(app, "UPDATE messages SET created_at = ?", (stored,))
    assert client.get("/api/conversations").json["conversations"][0]["created_at"] == shown
    conversation = client.get(f"/api/conversations/{conversation_id}").json
    assert conversation["created_at"] == shown and {m["created_at"] for m in conversation["messages"]} == {shown}
    assert json.loads(client.get(f"/api/conversations/{conversation_id}/export").data)["created_at"] == shown
    assert client.get(f"/c/{conversation_id}").status_code == 200


@pytest.mark.sqlite_only
def test_a_time_stored_as_text_shows_as_the_earliest_and_fails_nothing(client, app):
    # Only SQLite's columns take text where a number belongs (a row put there by hand).
    conversation_id = create(client)
    run_sql(app, "UPDATE conversations SET created_at = 'garbage'")
    run_sql(app, "UPDATE messages SET created_at = 'garbage'")
    shown = "1970-01-01T00:00:00.000Z"
    assert client.get("/api/conversations").json["conversations"][0]["created_at"] == shown
    assert client.get(f"/api/conversations/{conversation_id}").json["created_at"] == shown


def test_imports_are_limited_per_minute(app_config, tmp_path):
    app = create_app({**app_config, "WEBUI_IMPORTS_PER_MINUTE": 2})
    client = app.test_client()
    ids = [create(client) for _ in range(2)]
    before = snapshot(app)
    response = client.post("/api/conversations/import?lang=ru", json=[{"role": "user", "content": "x"}])
    assert response.status_code == 429 and response.json["error"]["code"] == "rate_limited"
    assert response.json["error"]["message"] == "Слишком много импортов: подождите минуту и попробуйте снова."
    assert snapshot(app) == before and len(ids) == 2


def test_imports_stop_at_the_owners_storage_quota(app_config):
    app = create_app({**app_config, "WEBUI_MAX_STORED_BYTES_PER_USER": 100})
    owner, stranger = app.test_client(), app.test_client()
    first = create(owner, [{"role": "user", "content": "я" * 20}, {"role": "assistant", "content": "a" * 40}])
    before = snapshot(app)
    response = owner.post("/api/conversations/import", json=[{"role": "user", "content": "b" * 21}])
    assert response.status_code == 507 and response.json["error"]["code"] == "over_quota"
    assert "0.0 MiB, and your conversations already take 0.0 MiB of the 0.0 MiB" in response.json["error"]["message"]
    assert snapshot(app) == before
    create(owner, [{"role": "user", "content": "b" * 20}])
    create(stranger, [{"role": "user", "content": "c" * 100}])
    assert owner.delete(f"/api/conversations/{first}").status_code == 204
    create(owner, [{"role": "user", "content": "d" * 80}])


@pytest.fixture
def small_imports(app_config):
    """Imports of at most 1 KiB."""
    app_config["WEBUI_MAX_IMPORT_BYTES"] = 1024


def test_a_too_large_import_is_refused(small_imports, client):
    response = client.post("/api/conversations/import", json=[{"role": "user", "content": "x" * 2000}])
    assert response.status_code == 413 and response.json["error"]["code"] == "too_large"
    assert client.get("/api/conversations").json["conversations"] == []


def test_export_format_must_be_known(client):
    conversation_id = create(client)
    assert client.get(f"/api/conversations/{conversation_id}/export?format=pdf").status_code == 400


def test_imported_and_renamed_text_with_lone_surrogates_is_stored_readably(client):
    # JSON may carry halves of UTF-16 pairs that UTF-8 cannot hold: a pair split in two is joined, a lone half
    # becomes U+FFFD, instead of an error inside SQLite's encoder (a 500).
    conversation_id = create(client, [{"role": "user", "content": "a\ud800b"}, {"role": "assistant", "content": "\ud83d\ude00 x\udc00"}])
    renamed = client.patch(f"/api/conversations/{conversation_id}", json={"title": "t\ud83d"})
    assert renamed.status_code == 200, renamed.json
    stored = client.get(f"/api/conversations/{conversation_id}").json
    assert (stored["title"], [m["content"] for m in stored["messages"]]) == ("t\ufffd", ["a\ufffdb", "\U0001f600 x\ufffd"])
