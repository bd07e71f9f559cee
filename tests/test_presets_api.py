"""The presets API: each browser's own presets, shared ones, one default per user, options checked as in a chat frame."""
import re

import pytest
from sqlalchemy import select

from conftest import Browser
from databases import run_sql
from test_auth import webui
from test_conversations_api import stranger  # noqa: F401 (a fixture)
from webui.access.identity import user_owner
from webui.presets_api import MAX_PRESETS
from webui.storage import get_db, presets
from webui.storage.database import transaction
from webui.storage.schema import presets as presets_table

pytestmark = pytest.mark.both_databases


def snapshot(app):
    """Every row of the presets and their defaults, to prove a refused request changed nothing."""
    return [[tuple(row) for row in run_sql(app, f"SELECT * FROM {table} ORDER BY {key}")]
            for table, key in (("presets", "seq"), ("preset_defaults", "owner"))]


def create(client, **fields):
    """Store a preset and return it."""
    response = client.post("/api/presets", json={"name": "Brief", **fields})
    assert response.status_code == 201, response.json
    return response.json


def listed(client):
    """The presets the client sees, as {name: preset}."""
    response = client.get("/api/presets")
    assert response.status_code == 200
    return {preset["name"]: preset for preset in response.json["presets"]}


def test_a_preset_is_stored_listed_changed_and_deleted(client):
    preset = create(client, name="  Pirate   talk ", system_prompt="Answer like a pirate.", options={"temperature": 0.3, "stop": ["END"]})
    assert set(preset) == {"id", "name", "system_prompt", "options", "shared", "default", "created_at", "updated_at"}
    assert (preset["name"], preset["shared"], preset["default"]) == ("Pirate talk", False, False)
    assert preset["options"] == {"temperature": 0.3, "stop": ["END"]}
    assert listed(client) == {"Pirate talk": preset}
    changed = client.patch(f"/api/presets/{preset['id']}", json={"name": "Sea dog", "options": {"top_k": 40, "seed": 7}})
    assert changed.status_code == 200, changed.json
    assert changed.json["name"] == "Sea dog" and changed.json["options"] == {"top_k": 40, "seed": 7}
    assert changed.json["system_prompt"] == "Answer like a pirate."
    assert client.delete(f"/api/presets/{preset['id']}").status_code == 204
    assert listed(client) == {}
    assert client.delete(f"/api/presets/{preset['id']}").status_code == 404


def test_a_browsers_presets_are_its_own(client, stranger, app):
    preset = create(client)
    before = snapshot(app)
    assert listed(stranger) == {}
    for response in (
        stranger.patch(f"/api/presets/{preset['id']}", json={"name": "Mine now"}),
        stranger.patch(f"/api/presets/{preset['id']}", json={"default": True}),
        stranger.delete(f"/api/presets/{preset['id']}"),
    ):
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    assert snapshot(app) == before
    assert listed(client)["Brief"]["name"] == "Brief"


def test_shared_presets_are_seen_by_everyone_and_anyone_may_make_one_their_default(client, stranger):
    # Without accounts the person at the page is the admin: anyone may publish.
    shared = create(client, name="House style", shared=True, system_prompt="Be kind.")
    assert shared["shared"] is True
    seen = listed(stranger)["House style"]
    assert seen["shared"] is True and seen["system_prompt"] == "Be kind." and seen["default"] is False
    chosen = stranger.patch(f"/api/presets/{shared['id']}", json={"default": True})
    assert chosen.status_code == 200 and chosen.json["default"] is True
    # Each user's default is theirs alone.
    assert listed(client)["House style"]["default"] is False
    assert listed(stranger)["House style"]["default"] is True


def test_each_user_has_at_most_one_default(client, stranger):
    first = create(client, name="First", default=True)
    assert first["default"] is True
    second = create(client, name="Second", default=True)
    assert second["default"] is True
    assert [name for name, preset in listed(client).items() if preset["default"]] == ["Second"]
    shared = create(stranger, name="Shared", shared=True)
    assert client.patch(f"/api/presets/{shared['id']}", json={"default": True}).json["default"] is True
    assert [name for name, preset in listed(client).items() if preset["default"]] == ["Shared"]
    assert client.patch(f"/api/presets/{shared['id']}", json={"default": False}).json["default"] is False
    assert [preset for preset in listed(client).values() if preset["default"]] == []
    client.patch(f"/api/presets/{first['id']}", json={"default": True})
    # A default deleted is nobody's default any more.
    assert client.delete(f"/api/presets/{first['id']}").status_code == 204
    assert [preset for preset in listed(client).values() if preset["default"]] == []


def test_a_shared_preset_made_private_again_stops_being_others_default(client, stranger):
    shared = create(client, name="Shared", shared=True)
    stranger.patch(f"/api/presets/{shared['id']}", json={"default": True})
    private = client.patch(f"/api/presets/{shared['id']}", json={"shared": False, "default": True})
    assert private.status_code == 200 and private.json["shared"] is False and private.json["default"] is True
    assert listed(stranger) == {}
    assert listed(client)["Shared"]["default"] is True
    assert client.patch(f"/api/presets/{shared['id']}", json={"shared": True}).json["shared"] is True
    assert listed(stranger)["Shared"]["default"] is False


@pytest.mark.parametrize(
    "options, field",
    [
        ({"temperature": 2.5}, "temperature"),
        ({"top_k": 1001}, "top_k"),
        ({"min_p": 1.5}, "min_p"),
        ({"repeat_penalty": 0.1}, "repeat_penalty"),
        ({"seed": -1}, "seed"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"proxy": "http://127.0.0.1:1"}, "proxy"),
    ],
)
def test_an_out_of_range_option_is_refused_naming_it_in_the_users_language(client, app, options, field):
    preset = create(client, options={"temperature": 1})
    before = snapshot(app)
    for lang, words in (("en", "[A-Za-z]"), ("ru", "[а-яА-Я]")):
        for response in (
            client.post(f"/api/presets?lang={lang}", json={"name": "Hot", "options": options}),
            client.patch(f"/api/presets/{preset['id']}?lang={lang}", json={"name": "Hot", "options": options}),
        ):
            assert response.status_code == 400 and response.json["error"]["code"] == "bad_request"
            message = response.json["error"]["message"]
            assert re.search(f"[“«]{field}[”»]", message) and re.search(words, message.replace(field, "")), message
    assert snapshot(app) == before


@pytest.mark.parametrize(
    "body",
    [
        {"system_prompt": "no name"},
        {"name": ""},
        {"name": "x" * 10_000},
        {"name": "Long", "system_prompt": "x" * 40_000},
        {"name": "Odd", "colour": "red"},
        {"name": "Odd", "shared": "yes"},
        {"name": "Odd", "default": 1},
        {"name": "Odd", "options": "hot"},
        ["name", "Odd"],
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(client, app, body):
    before = snapshot(app)
    response = client.post("/api/presets", json=body)
    assert response.status_code == 400 and response.json["error"]["code"] == "bad_request", response.json
    assert snapshot(app) == before
    garbled = client.post("/api/presets", data="{not json", content_type="application/json")
    assert garbled.status_code == 400 and snapshot(app) == before


def test_a_user_keeps_a_bounded_number_of_presets(client, app):
    first = create(client, name="Preset 0")
    with app.app_context():
        db = get_db()
        keeper = db.execute(select(presets_table.c.owner).where(presets_table.c.id == first["id"])).fetchone()[0]
        with transaction(db):
            for n in range(1, MAX_PRESETS):
                presets.create(db, keeper, f"Preset {n}")
    before = snapshot(app)
    refused = client.post("/api/presets", json={"name": "One too many"})
    assert refused.status_code == 400 and str(MAX_PRESETS) in refused.json["error"]["message"]
    assert snapshot(app) == before


def test_changes_need_the_pages_csrf_token(server):
    browser = Browser(server.url)
    forged = browser.http.post(server.url + "/api/presets", json={"name": "Forged"}, timeout=10)
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"
    made = browser.post("/api/presets", json={"name": "Mine"})
    assert made.status_code == 201
    preset_url = f"{server.url}/api/presets/{made.json()['id']}"
    assert browser.http.patch(preset_url, json={"name": "Forged"}, timeout=10).status_code == 403
    assert browser.http.delete(preset_url, timeout=10).status_code == 403
    assert [p["name"] for p in browser.get("/api/presets").json()["presets"]] == ["Mine"]
    token = {"X-CSRF-Token": browser.csrf_token()}
    assert browser.http.patch(preset_url, json={"name": "Renamed"}, headers=token, timeout=10).status_code == 200
    assert browser.http.delete(preset_url, headers=token, timeout=10).status_code == 204


def test_a_new_account_does_not_inherit_presets_of_an_old_one_of_the_same_name(app, app_config):
    with app.app_context():
        db = get_db()
        with transaction(db):
            left = presets.create(db, user_owner("alice"), "Left behind")
            presets.set_default(db, user_owner("alice"), left)
    result = webui(app_config, "user", "add", "alice", "--password-stdin", stdin="correct horse battery\n")
    assert result.exit_code == 0, result.output
    assert snapshot(app) == [[], []]
