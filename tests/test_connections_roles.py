"""Connections are an admin's: with accounts, a user who is not an admin gets 403 `forbidden` from every endpoint."""
from conftest import Browser
from test_auth import add_user, signed_in
from test_connections import send

BODY = {"name": "lab", "type": "openai", "base_url": "http://127.0.0.1:9/v1", "models": ["m"]}


def test_only_an_admin_sees_or_changes_connections(app_config, server):
    add_user(app_config, "alice")  # the first account is an admin
    add_user(app_config, "bob")
    admin, user = signed_in(server, "alice"), signed_in(server, "bob")
    connection = send(admin, "POST", "/api/connections", json=BODY)
    assert connection.status_code == 201, connection.text
    path = f"/api/connections/{connection.json()['id']}"

    for method, target, body in [
        ("GET", "/api/connections", None),
        ("POST", "/api/connections", {**BODY, "name": "mine"}),
        ("PATCH", path, {"base_url": "http://127.0.0.1:8/v1"}),
        ("DELETE", path, None),
        ("POST", "/api/connections/test", BODY),
    ]:
        refused = send(user, method, target, json=body)
        assert refused.status_code == 403, (method, target, refused.text)
        assert refused.json()["error"]["code"] == "forbidden"
        assert "lab" not in refused.text
    assert [c["name"] for c in admin.get("/api/connections").json()["connections"]] == ["lab"]
    assert admin.get("/api/connections").json()["connections"][0]["base_url"] == BODY["base_url"]
    anonymous = Browser(server.url)
    assert anonymous.get("/api/connections").status_code == 401
