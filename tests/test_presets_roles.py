"""Presets with accounts: only admins publish, change or delete shared presets; everyone sees them and may choose one."""
from test_auth import PASSWORD, signed_in, webui
from test_presets_api import snapshot


def add_account(app_config, name, *flags):
    """Create an account through the command line (the first one is an admin)."""
    result = webui(app_config, "user", "add", name, *flags, "--password-stdin", stdin=PASSWORD + "\n")
    assert result.exit_code == 0, result.output


def send(browser, method, path, body=None):
    """A state-changing request with the page's CSRF token."""
    headers = {"X-CSRF-Token": browser.csrf_token()}
    return browser.http.request(method, browser.url + path, json=body, headers=headers, timeout=10)


def names(browser):
    """The names of the presets the browser sees, with whether each is shared and its user's default."""
    return {p["name"]: (p["shared"], p["default"]) for p in browser.get("/api/presets").json()["presets"]}


def test_only_an_admin_publishes_changes_or_deletes_shared_presets(server, app_config):
    add_account(app_config, "alice", "--admin")
    add_account(app_config, "bob")
    alice, bob = signed_in(server, "alice"), signed_in(server, "bob")
    published = send(alice, "POST", "/api/presets", {"name": "House style", "shared": True})
    assert published.status_code == 201, published.text
    shared_id = published.json()["id"]
    own = send(bob, "POST", "/api/presets", {"name": "Bob's own", "system_prompt": "Short."})
    assert own.status_code == 201
    before = snapshot(server.app)
    for method, path, body in (
        ("POST", "/api/presets", {"name": "Mine for all", "shared": True}),
        ("PATCH", f"/api/presets/{shared_id}", {"name": "Hijacked"}),
        ("PATCH", f"/api/presets/{shared_id}", {"options": {"temperature": 2}}),
        ("PATCH", f"/api/presets/{shared_id}", {"shared": False}),
        ("PATCH", f"/api/presets/{own.json()['id']}", {"shared": True}),
        ("DELETE", f"/api/presets/{shared_id}", None),
    ):
        refused = send(bob, method, path, body)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden", (method, path, refused.text)
    assert snapshot(server.app) == before
    # Everyone sees the shared preset and may make it their own default; nobody else sees Bob's.
    assert names(bob) == {"House style": (True, False), "Bob's own": (False, False)}
    assert send(bob, "PATCH", f"/api/presets/{shared_id}", {"default": True}).json()["default"] is True
    assert names(alice) == {"House style": (True, False)}
    assert send(alice, "PATCH", f"/api/presets/{shared_id}", {"name": "House rules"}).status_code == 200
    assert names(bob)["House rules"] == (True, True)
    assert send(alice, "DELETE", f"/api/presets/{shared_id}").status_code == 204
    assert names(bob) == {"Bob's own": (False, False)}
