"""The first-run block: shown only to a visitor with no conversations on a server with no connections at all."""
from conftest import Browser
from fake_upstream import upstream, webui  # noqa: F401 (fixtures)
from test_connections import lab, send

FIRST_RUN = 'id="first-run"'


def test_a_first_visit_with_nothing_set_up_shows_the_ways_forward_until_a_conversation_exists(webui):
    server = webui([])
    visitor, other = Browser(server.url), Browser(server.url)
    assert FIRST_RUN in visitor.get("/").text
    imported = visitor.post("/api/conversations/import", json=[{"role": "user", "content": "hello"}])
    assert imported.status_code == 201, imported.text
    assert FIRST_RUN not in visitor.get("/").text
    assert FIRST_RUN in other.get("/").text, "another visitor has no conversations yet"


def test_a_connection_from_the_page_ends_the_first_run_for_everyone(upstream, webui):
    server = webui([])
    admin, newcomer = Browser(server.url), Browser(server.url)
    created = send(admin, "POST", "/api/connections", json=lab(upstream, enabled=False)).json()
    assert FIRST_RUN not in newcomer.get("/").text, "even a disabled connection shows the way was found"
    assert send(admin, "DELETE", f"/api/connections/{created['id']}").status_code == 204
    assert FIRST_RUN in newcomer.get("/").text


def test_a_server_of_the_config_file_ends_the_first_run(upstream, webui):
    server = webui([{"name": "cfg", "type": "openai", "base_url": upstream.url + "/v1"}])
    assert FIRST_RUN not in Browser(server.url).get("/").text
