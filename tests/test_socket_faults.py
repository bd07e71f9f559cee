"""Whatever a frame or a provider does, every request gets one final answer and the socket stays usable."""
import json
import sys

import pytest
from simple_websocket import Client

from conftest import LiveServer, ServerProcess, Socket, Visitor, chat, turn
from test_bridge_ws import text_of
from test_cli import clean_env
from webui import create_app


HUGE = 10**400  # a 401-digit integer: valid JSON, too big for a float
NESTED = "[" * 100_000  # within the request limit, deeper than any parser's recursion


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


def first_frame(ws, request_id, most=1000):
    """The first frame of this request, passing over (a bounded number of) frames of others."""
    for _ in range(most):
        frame = ws.recv()
        if frame.get("request_id") == request_id:
            return frame
    raise AssertionError(f"no frame for {request_id!r} among {most}")


def create(client):
    """Import a small conversation and return its id."""
    response = client.post("/api/conversations/import", json=[{"role": "user", "content": "hi"}])
    assert response.status_code == 201, response.json
    return response.json["id"]


@pytest.mark.parametrize(
    "body",
    [
        NESTED,
        '{"title": ' + "[" * 5000 + "]" * 5000 + "}",
        json.dumps({"options": {"seed": HUGE}}),
        json.dumps({"options": {"top_k": HUGE}}),
    ],
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
supports_stream = True
needs_auth = False


class Name(str):
    # A model name that cannot be compared: looking the requested model up raises TypeError.
    __hash__ = str.__hash__

    def __eq__(self, other):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")


model = [Name("any")]


def _create_completion(model, messages, stream, **kwargs):
    yield "never"
"""


@pytest.fixture
def quirky_server(app_config, providers_dir):
    """A server with a drop-in module whose model names cannot be compared (a bug the server did not expect)."""
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
RAISERS = """
import asyncio

url = "http://127.0.0.1/raisers"
model = ["cancelled", "exit", "keyboard", "generator_exit", "cancelled_at_once"]
supports_stream = True
needs_auth = False
RAISE = {
    "cancelled": asyncio.CancelledError,
    "cancelled_at_once": asyncio.CancelledError,
    "exit": SystemExit,
    "keyboard": KeyboardInterrupt,
    "generator_exit": GeneratorExit,
}


def _create_completion(model, messages, stream, **kwargs):
    if model != "cancelled_at_once":
        yield "before "
    raise RAISE[model]("from the provider")
"""


@pytest.fixture
def raisers_dir(providers_dir):
    """The test drop-ins plus one whose answers raise exceptions that are not Exceptions."""
    (providers_dir / "raisers.py").write_text(RAISERS)
    return providers_dir


@pytest.fixture
def raisers_server(app_config, raisers_dir):
    """A threaded live server with the raising drop-in."""
    server = LiveServer(create_app(app_config))
    yield server
    server.stop()


def test_a_provider_raising_a_base_exception_ends_its_answer_and_frees_its_place(raisers_server):
    visitor = Visitor(raisers_server)
    ws = visitor.connect()
    models = ["cancelled", "exit", "keyboard", "generator_exit", "cancelled_at_once"]
    finals = {}
    for n, model in enumerate(models):
        ws.send({**turn(n, content="go", model=model), "provider": "raisers"})
        frames = ws.until_final(n, timeout=10)
        assert frames[-1]["type"] == "error" and frames[-1]["code"] == "provider_error", (model, frames)
        assert text_of(frames) == ("" if model == "cancelled_at_once" else "before ")
        finals[model] = frames
    for model, frames in finals.items():
        message_id = frames[0]["message_id"]
        stored = visitor.http.get(f"/api/conversations/{frames[0]['conversation_id']}").json["messages"][-1]
        assert stored["id"] == message_id and stored["status"] == "error", (model, stored)
        assert stored["content"] == ("" if model == "cancelled_at_once" else "before ")
    # Five ended answers hold none of the owner's four places.
    for n in range(4):
        ws.send(turn(f"more{n}", content="slow", model="slow"))
        assert first_frame(ws, f"more{n}")["type"] == "start"
    for n in range(4):
        ws.send({"type": "stop", "request_id": f"more{n}"})
        assert ws.until_final(f"more{n}")[-1]["reason"] == "stopped"


def test_under_gevent_a_provider_raising_system_exit_does_not_stop_the_server(tmp_path, raisers_dir):
    # A SystemExit or KeyboardInterrupt leaving a greenlet is passed to gevent's main greenlet, which stops the worker.
    env = clean_env(WEBUI_DATA_DIR=str(tmp_path), WEBUI_PROVIDERS_DIR=str(raisers_dir), LANG="C")
    server = ServerProcess([sys.executable, "-m", "webui", "--port", "0", "serve"], env=env)
    ws = None
    try:
        ws = Socket(Client.connect(server.url.replace("http", "ws", 1) + "/ws"))
        for model in ("exit", "keyboard", "cancelled", "generator_exit"):
            ws.send(chat(model, provider="raisers", model=model))
            frames = ws.until_final(model, timeout=10)
            assert frames[-1]["type"] == "error" and frames[-1]["code"] == "provider_error", frames
        assert_usable(ws)  # the same socket: the worker that holds it is still there
        assert server.process.poll() is None
    finally:
        if ws:
            ws.close()
        server.stop()
