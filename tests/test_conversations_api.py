"""The conversations HTTP API: list and search, read, change and delete, each only for its owner."""
import json
import re

import pytest

from databases import run_sql

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


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "before=garbage", "before=1.5:bad/id", "q=" + "x" * 501])
def test_bad_list_parameters_are_refused(client, query):
    response = client.get("/api/conversations?" + query)
    assert response.status_code == 400 and response.json["error"]["code"] == "bad_request"


def test_the_page_serves_conversation_urls(client):
    conversation_id = create(client)
    page = client.get(f"/c/{conversation_id}").text
    # The start page's scripts and styles, carrying the conversation it opens (its newest messages rendered are
    # tested in test_preview.py).
    assets = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="[^"]*"[^>]*>')
    assert assets.findall(page) == assets.findall(client.get("/").text)
    carried = re.search(r'<script id="conversation-data" type="application/json">(.*?)</script>', page, re.S)
    assert json.loads(carried[1]) == client.get(f"/api/conversations/{conversation_id}").get_json()
