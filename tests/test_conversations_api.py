"""The conversations HTTP API: list and search, read, change, delete, export and import, each only for its owner."""
import json
import re

import pytest

from databases import run_sql
from webui import create_app

pytestmark = pytest.mark.both_databases


def snapshot(app):
    """Every row of the conversations and messages tables, to prove a refused request changed nothing."""
    return [[tuple(row) for row in run_sql(app, f"SELECT * FROM {table} ORDER BY seq")] for table in ("conversations", "messages")]


def create(client, messages=None, **fields):
    """Import a conversation and return its id."""
    body = {"messages": messages or [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], **fields}
    response = client.post("/api/conversations/import", json=body)
    assert response.status_code == 201, response.json
    return response.json["id"]


@pytest.fixture
def stranger(app):
    """A second browser with its own cookies."""
    other = app.test_client()
    other.get("/")
    return other


def test_the_identity_cookie_is_long_lived_http_only_and_lax(client):
    client.get("/")
    cookie = client.get_cookie("webui_owner")
    assert cookie.http_only and cookie.same_site == "Lax" and len(cookie.value) == 22
    assert cookie.expires is not None
    again = client.get("/")
    assert "webui_owner" not in again.headers.get("Set-Cookie", "")


def test_the_list_is_newest_first_and_pages_with_a_cursor(client):
    ids = [create(client, title=f"conversation {n}") for n in range(5)]
    first = client.get("/api/conversations?limit=2").json
    assert [c["id"] for c in first["conversations"]] == ids[:2:-1][:2] == [ids[4], ids[3]]
    assert set(first["conversations"][0]) == {"id", "title", "created_at", "updated_at"}
    second = client.get("/api/conversations", query_string={"limit": 2, "before": first["next"]}).json
    third = client.get("/api/conversations", query_string={"limit": 2, "before": second["next"]}).json
    assert [c["id"] for c in second["conversations"] + third["conversations"]] == [ids[2], ids[1], ids[0]]
    assert third["next"] is None


def searched(client, query):
    """The ids of the conversations a search for `query` finds, newest first."""
    return [c["id"] for c in client.get("/api/conversations", query_string={"q": query}).json["conversations"]]


def test_search_finds_titles_and_text_of_the_owner_only(client, stranger):
    apples = create(client, [{"role": "user", "content": "Tell me about apples"}], title="Fruit")
    pears = create(client, [{"role": "user", "content": "x"}, {"role": "assistant", "content": "Груши растут на деревьях."}])
    create(stranger, [{"role": "user", "content": "apples and pears"}])

    def found(query):
        """The ids the search returns for `query`."""
        return searched(client, query)

    assert found("apple") == [apples]
    assert found("FRUIT") == [apples]
    assert found("груши деревья") == [pears]
    assert found("apples pears") == []
    assert found('"apples" (') == [apples]
    assert found("-") == []
    assert found("") == [pears, apples]
    # FTS5 would read a NUL as the end of its query; it separates words, as in the text searched.
    assert found("apples\0about") == [apples]
    assert found("\0") == []


def test_search_is_blind_to_accents_as_people_type_them(client):
    french = create(client, [{"role": "user", "content": "Un café crème, s'il vous plaît"}], title="Résumé")
    plain = create(client, [{"role": "user", "content": "a naive cafe owner"}])
    accented = {query: searched(client, query) for query in ("cafe", "CAFÉ", "resume", "résumé", "plait", "naïve", "crème")}
    assert accented == {
        "cafe": [plain, french], "CAFÉ": [plain, french], "resume": [french], "résumé": [french], "plait": [french],
        "naïve": [plain], "crème": [french],
    }


def test_a_conversation_shows_its_active_path_with_versions(client):
    conversation_id = create(client, system_prompt="Be brief.", options={"temperature": 0.2}, provider="testing", model="echo")
    conversation = client.get(f"/api/conversations/{conversation_id}").json
    assert conversation["system_prompt"] == "Be brief." and conversation["options"] == {"temperature": 0.2}
    assert (conversation["provider"], conversation["model"]) == ("testing", "echo")
    user, answer = conversation["messages"]
    assert user["parent_id"] is None and answer["parent_id"] == user["id"]
    assert (answer["role"], answer["content"], answer["status"], answer["versions"]) == ("assistant", "hello", "complete", [answer["id"]])


def test_renaming_and_settings(client):
    conversation_id = create(client)
    changed = client.patch(
        f"/api/conversations/{conversation_id}",
        json={"title": "  A   new\nname ", "system_prompt": "Talk like a pirate.", "options": {"top_k": 40}, "model": "slow"},
    ).json
    assert changed["title"] == "A new name" and changed["system_prompt"] == "Talk like a pirate."
    assert changed["options"] == {"top_k": 40} and changed["model"] == "slow"
    assert client.get(f"/api/conversations/{conversation_id}").json == changed


@pytest.mark.parametrize(
    "body",
    [
        {"title": ""},
        {"title": "x" * 201},
        {"title": 5},
        {"system_prompt": ["x"]},
        {"options": {"temperature": 7}},
        {"options": {"api_key": "x"}},
        {"options": "hot"},
        {"provider": 3},
        {"model": ""},
        {"leaf_id": "no-such-message"},
        {"leaf_id": 12},
        {"colour": "blue"},
        {"title": "fine", "options": {"temperature": 9}},
        ["title"],
    ],
)
def test_bad_changes_are_refused_and_change_nothing(client, app, body):
    conversation_id = create(client)
    before = snapshot(app)
    response = client.patch(f"/api/conversations/{conversation_id}", json=body)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request" and response.json["error"]["message"]
    assert snapshot(app) == before


def test_errors_come_in_the_users_language(client):
    conversation_id = create(client)
    response = client.patch(f"/api/conversations/{conversation_id}", json={"title": ""}, headers={"Accept-Language": "ru"})
    assert "Название" in response.json["error"]["message"]
    missing = client.get("/api/conversations/nope", headers={"Accept-Language": "ru"})
    assert missing.status_code == 404 and "Нет такого разговора" in missing.json["error"]["message"]


def test_a_leaf_from_another_conversation_is_refused(client):
    first, second = create(client), create(client)
    other_leaf = client.get(f"/api/conversations/{second}").json["messages"][-1]["id"]
    assert client.patch(f"/api/conversations/{first}", json={"leaf_id": other_leaf}).status_code == 400


def test_other_people_get_404_for_everything(client, stranger, app):
    conversation_id = create(client)
    before = snapshot(app)
    url = f"/api/conversations/{conversation_id}"
    responses = [
        stranger.get(url),
        stranger.patch(url, json={"title": "mine"}),
        stranger.delete(url),
        stranger.get(url + "/export"),
        stranger.get(url + "/export?format=md"),
    ]
    assert [r.status_code for r in responses] == [404] * 5
    assert all(r.json["error"]["code"] == "not_found" for r in responses)
    assert stranger.get("/api/conversations").json == {"conversations": [], "next": None}
    assert snapshot(app) == before


def test_delete(client):
    conversation_id = create(client)
    response = client.delete(f"/api/conversations/{conversation_id}")
    assert response.status_code == 204 and response.data == b""
    assert client.get(f"/api/conversations/{conversation_id}").status_code == 404
    assert client.delete(f"/api/conversations/{conversation_id}").status_code == 404


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


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "before=garbage", "before=1.5:bad/id", "q=" + "x" * 501])
def test_bad_list_parameters_are_refused(client, query):
    response = client.get("/api/conversations?" + query)
    assert response.status_code == 400 and response.json["error"]["code"] == "bad_request"


def test_export_format_must_be_known(client):
    conversation_id = create(client)
    assert client.get(f"/api/conversations/{conversation_id}/export?format=pdf").status_code == 400


def test_the_page_serves_conversation_urls(client):
    conversation_id = create(client)
    page = client.get(f"/c/{conversation_id}").text
    # The start page's scripts and styles, carrying the conversation it opens (its newest messages rendered are
    # tested in test_preview.py).
    assets = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="[^"]*"[^>]*>')
    assert assets.findall(page) == assets.findall(client.get("/").text)
    carried = re.search(r'<script id="conversation-data" type="application/json">(.*?)</script>', page, re.S)
    assert json.loads(carried[1]) == client.get(f"/api/conversations/{conversation_id}").get_json()


def test_imported_and_renamed_text_with_lone_surrogates_is_stored_readably(client):
    # JSON may carry halves of UTF-16 pairs that UTF-8 cannot hold: a pair split in two is joined, a lone half
    # becomes U+FFFD, instead of an error inside SQLite's encoder (a 500).
    conversation_id = create(client, [{"role": "user", "content": "a\ud800b"}, {"role": "assistant", "content": "\ud83d\ude00 x\udc00"}])
    renamed = client.patch(f"/api/conversations/{conversation_id}", json={"title": "t\ud83d"})
    assert renamed.status_code == 200, renamed.json
    stored = client.get(f"/api/conversations/{conversation_id}").json
    assert (stored["title"], [m["content"] for m in stored["messages"]]) == ("t\ufffd", ["a\ufffdb", "\U0001f600 x\ufffd"])
