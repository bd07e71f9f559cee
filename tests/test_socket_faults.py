"""Whatever a frame or a provider does, every request gets one final answer and the socket stays usable."""
import json

import pytest

from conftest import LiveServer, Visitor, chat, turn
from webui import create_app

HUGE = 10**400  # a 401-digit integer: valid JSON, too big for a float
NESTED = "[" * 100_000  # within the request limit, deeper than any parser's recursion


def text_of(frames):
    """Concatenate the delta frames' text."""
    return "".join(f["text"] for f in frames if f["type"] == "delta")


def assert_usable(ws, request_id="after"):
    """The socket still carries a request from start to done."""
    ws.send(chat(request_id, "still here"))
    assert text_of(ws.until_final(request_id)) == "still here "


@pytest.mark.parametrize("option", ["seed", "top_k", "temperature", "max_tokens"])
@pytest.mark.parametrize("make", [chat, lambda request_id, **extra: turn(request_id, content="x", **extra)])
def test_a_huge_integer_option_is_a_bad_request(server, make, option):
    ws = server.connect()
    ws.send(make("o", options={option: HUGE}))
    error = ws.recv()
    assert error["type"] == "error" and error["request_id"] == "o" and error["code"] == "bad_request"
    assert option in error["message"]
    assert_usable(ws)


def test_deeply_nested_json_is_a_bad_request_and_the_socket_stays(server):
    ws = server.connect(headers={"Accept-Language": "ru"})
    ws.send(NESTED)
    error = ws.recv()
    assert error == {"type": "error", "request_id": None, "code": "bad_request", "message": error["message"]}
    assert "вложен" in error["message"]
    assert_usable(ws)


def create(client):
    """Import a small conversation and return its id."""
    response = client.post("/api/conversations/import", json=[{"role": "user", "content": "hi"}])
    assert response.status_code == 201, response.json
    return response.json["id"]


@pytest.mark.parametrize(
    "body",
    [NESTED, '{"title": ' + "[" * 5000 + "]" * 5000 + "}", json.dumps({"options": {"seed": HUGE}}), json.dumps({"options": {"top_k": HUGE}})],
)
def test_patch_refuses_nesting_and_huge_numbers_with_400(client, body):
    conversation_id = create(client)
    before = client.get(f"/api/conversations/{conversation_id}").json
    response = client.patch(f"/api/conversations/{conversation_id}", data=body, content_type="application/json")
    assert response.status_code == 400 and response.json["error"]["code"] == "bad_request"
    assert response.json["error"]["message"]
    assert client.get(f"/api/conversations/{conversation_id}").json == before


@pytest.mark.parametrize(
    "body",
    [
        NESTED,
        '{"messages": [{"role": "user", "content": "x"}], "title": ' + "[" * 50_000 + "]" * 50_000 + "}",
        json.dumps({"options": {"seed": HUGE}, "messages": [{"role": "user", "content": "x"}]}),
    ],
)
def test_import_refuses_nesting_and_huge_numbers_with_400(client, body):
    response = client.post("/api/conversations/import", data=body, content_type="application/json")
    assert response.status_code == 400 and response.json["error"]["code"] in ("bad_request", "invalid_import")
    assert client.get("/api/conversations").json["conversations"] == []


BROKEN_LISTING = """
url = "http://127.0.0.1/broken-listing"
model = 42  # not a name nor a list: listing the models raises TypeError
supports_stream = True
needs_auth = False


def _create_completion(model, messages, stream, **kwargs):
    yield "never"
"""


@pytest.fixture
def quirky_server(app_config, providers_dir):
    """A server with a drop-in module whose model list cannot be read (a bug the server did not expect)."""
    (providers_dir / "broken_listing.py").write_text(BROKEN_LISTING)
    server = LiveServer(create_app(app_config))
    yield server
    server.stop()


def test_an_unexpected_error_is_an_internal_error_in_the_users_language(quirky_server, caplog):
    ws = quirky_server.connect(headers={"Accept-Language": "ru"})
    ws.send(chat("x", provider="broken_listing", model="any"))
    error = ws.recv()
    assert error["type"] == "error" and error["request_id"] == "x" and error["code"] == "internal_error"
    assert "пошло не так" in error["message"]
    assert "TypeError" not in error["message"] and "int" not in error["message"], "no internals in the message"
    assert "Traceback" in caplog.text and "TypeError" in caplog.text
    ws.send(chat("y", provider="broken_listing", model="any"))
    assert ws.recv()["code"] == "internal_error", "the socket answers every frame"
    assert_usable(ws)
