"""What the page may not do with an Ollama connection's models: bad names and bodies, connections that are not Ollama
or lack their key, people who are not admins, and other sites; nothing reaches Ollama."""
import pytest

from conftest import Browser
from fake_ollama import ollama  # noqa: F401 (fixture)
from fake_upstream import MODELS, upstream, webui  # noqa: F401 (fixtures)
from test_auth import add_user, signed_in
from test_connections import send
from test_ollama_models import CYRILLIC, QWEN, RUSSIAN, added, farm, installed_names, models_path, pulled


BAD_NAMES = ["", " ", "qwen 2.5", "../../etc/passwd", "a/b/c/d", ".hidden", "q:" + "t" * 81, "m" * 81, "модель",
             "qwen?x=1", "a%2Fb", 5, None, ["qwen"]]


@pytest.mark.parametrize("name", BAD_NAMES, ids=range(len(BAD_NAMES)))
def test_a_bad_model_name_is_refused_on_its_field_and_nothing_is_sent(upstream, ollama, webui, name):
    server = webui([])
    admin = Browser(server.url)
    connection_id = added(admin, farm(upstream))
    for headers in ({}, RUSSIAN):
        refused = send(admin, "POST", models_path(connection_id, "pull"), json={"name": name}, headers=headers)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == "bad_request" and refused.json()["error"]["field"] == "name"
    assert CYRILLIC.search(refused.json()["error"]["message"])
    assert upstream.requests_to("/api/pull") == []


def test_a_bad_name_to_delete_or_a_bad_pull_body_is_refused_and_nothing_is_sent(upstream, ollama, webui):
    server = webui([])
    admin = Browser(server.url)
    connection_id = added(admin, farm(upstream))
    for name in ["qwen%202.5", "m" * 81, "a/b/c/d", "x:y:z", "%2E%2E"]:
        refused = send(admin, "DELETE", models_path(connection_id, name))
        assert refused.status_code in (400, 404), (name, refused.text)
        if refused.status_code == 400:
            assert refused.json()["error"]["field"] == "name"
    for body in [{"name": QWEN, "insecure": True}, {}, [QWEN], "qwen"]:
        refused = send(admin, "POST", models_path(connection_id, "pull"), json=body)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_request", (body, refused.text)
    assert upstream.requests_to("/api/delete") == [] and upstream.requests_to("/api/pull") == []


def test_only_ollama_connections_with_their_key_have_models_and_an_unknown_id_is_not_found(upstream, ollama, webui):
    server = webui([
        {"name": "lab", "type": "openai", "base_url": upstream.url + "/v1"},
        {"name": "keyless", "type": "ollama", "base_url": upstream.url, "api_key_env": "WEBUI_TEST_UNSET_OLLAMA_KEY"},
    ])
    admin = Browser(server.url)
    openai_id = added(admin, {"name": "other", "type": "openai", "base_url": upstream.url + "/v1"})
    for connection_id, status, code in [(openai_id, 400, "not_ollama"), ("config-1", 400, "not_ollama"),
                                        ("config-2", 400, "needs_key"), ("no-such-id", 404, "not_found"),
                                        ("config-3", 404, "not_found")]:
        for method, path, body in [
            ("GET", models_path(connection_id), None),
            ("POST", models_path(connection_id, "pull"), {"name": QWEN}),
            ("DELETE", models_path(connection_id, QWEN), None),
        ]:
            refused = send(admin, method, path, json=body, headers=RUSSIAN)
            assert refused.status_code == status and refused.json()["error"]["code"] == code, (method, path, refused.text)
            assert CYRILLIC.search(refused.json()["error"]["message"])
    english = send(admin, "GET", models_path(openai_id)).json()["error"]["message"]
    assert english == "other is not an Ollama server: only Ollama's models can be listed, pulled and deleted here."
    assert [seen.path for seen in upstream.seen if seen.path.startswith("/api/")] == []


def test_only_an_admin_lists_pulls_or_deletes_models(app_config, server, upstream, ollama):
    add_user(app_config, "alice")  # the first account is an admin
    add_user(app_config, "bob")
    admin, user = signed_in(server, "alice"), signed_in(server, "bob")
    connection_id = added(admin, farm(upstream))
    for method, path, body in [
        ("GET", models_path(connection_id), None),
        ("POST", models_path(connection_id, "pull"), {"name": QWEN}),
        ("DELETE", models_path(connection_id, MODELS[0]), None),
    ]:
        refused = send(user, method, path, json=body)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden", (method, refused.text)
    assert upstream.seen == [] and MODELS[0] in ollama.models
    assert installed_names(admin, connection_id)[-1] == MODELS[0]


def test_a_pull_or_delete_from_another_site_or_without_the_token_is_refused(upstream, ollama, webui):
    server = webui([])
    admin = Browser(server.url)
    connection_id = added(admin, farm(upstream))
    pull_url, delete_url = server.url + models_path(connection_id, "pull"), server.url + models_path(connection_id, MODELS[0])
    refusals = [
        admin.http.post(pull_url, json={"name": QWEN}, timeout=10),
        admin.http.delete(delete_url, timeout=10),
        admin.http.post(pull_url, json={"name": QWEN}, timeout=10, headers={"Origin": "http://evil.example"}),
        admin.http.delete(delete_url, timeout=10, headers={"Origin": "http://evil.example", "X-CSRF-Token": admin.csrf_token()}),
    ]
    assert [r.json()["error"]["code"] for r in refusals] == ["csrf_failed", "csrf_failed", "forbidden_origin", "forbidden_origin"]
    assert upstream.seen == [] and MODELS[0] in ollama.models
    assert pulled(admin, connection_id, QWEN)[-1] == {"done": True}, "with the page's token from its own site it goes"
    assert send(admin, "DELETE", models_path(connection_id, MODELS[0])).status_code == 204
