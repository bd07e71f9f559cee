"""Providers that hang: an idle timeout ends their answers, which then hold no place, and under gevent their
generators are interrupted and closed, so their connections go."""
import socket
import sys
import threading
import time

import pytest
from simple_websocket import Client

from conftest import Browser, LiveServer, ServerProcess, Socket, Visitor, chat, turn
from test_bridge_ws import text_of
from test_cli import clean_env
from webui import create_app
from webui.providers.local import bundled_model_path

# A drop-in module whose answers hang: `read` on a connection to a server that never answers, `sleep` in a sleep.
HANG = """
import socket
import time

url = "http://127.0.0.1/hang"
model = ["read", "sleep"]
supports_stream = True
needs_auth = False
PORT = {port}


def _create_completion(model, messages, stream, **kwargs):
    if model == "sleep":
        yield "sleeping "
        time.sleep(3600)
        return
    with socket.create_connection(("127.0.0.1", PORT)) as upstream:
        yield "connected "
        while upstream.recv(1):
            yield "more "
"""


class SilentPeer:
    """A model server that accepts connections and never answers, and sees each of them close."""

    def __init__(self):
        """Listen on a free loopback port."""
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = []
        self.closed = 0
        self.changed = threading.Condition()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        """Take connections until the listener closes; watch each for its end."""
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with self.changed:
                self.connections.append(connection)
                self.changed.notify_all()
            threading.Thread(target=self._watch, args=(connection,), daemon=True).start()

    def _watch(self, connection):
        """Count the connection closed once the client hangs up."""
        try:
            while connection.recv(1024):
                pass
        except OSError:
            pass
        with self.changed:
            self.closed += 1
            self.changed.notify_all()

    def wait(self, condition, timeout=10):
        """Wait (bounded) until `condition()` holds; whether it does."""
        with self.changed:
            return self.changed.wait_for(condition, timeout)

    def speak(self):
        """Send one byte on every connection: a hung upstream that finally says something."""
        for connection in self.connections:
            try:
                connection.sendall(b"x")
            except OSError:
                pass

    def stop(self):
        """Close everything."""
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def peer():
    """A silent model server."""
    server = SilentPeer()
    yield server
    server.stop()


@pytest.fixture
def hang_dir(providers_dir, peer):
    """The test drop-ins plus the hanging one, which connects to `peer`."""
    (providers_dir / "hang.py").write_text(HANG.format(port=peer.port))
    return providers_dir


def finals(ws, request_ids, timeout=15):
    """Every frame of these requests up to each one's final frame, by request id (bounded in count and time)."""
    frames = {request_id: [] for request_id in request_ids}
    open_ids = set(request_ids)
    deadline = time.monotonic() + timeout
    while open_ids and time.monotonic() < deadline:
        frame = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        if frame.get("request_id") in open_ids:
            frames[frame["request_id"]].append(frame)
            if frame["type"] in ("done", "error"):
                open_ids.discard(frame["request_id"])
    assert not open_ids, f"no final frame for {sorted(open_ids)}"
    return frames


def hang_turn(request_id, model="read"):
    """A stored conversation's turn answered by the hanging module."""
    return {**turn(request_id, content="hello", model=model), "provider": "hang"}


@pytest.fixture
def hang_server(app_config, hang_dir):
    """The threaded development server, with a one-second idle limit."""
    server = LiveServer(create_app({**app_config, "WEBUI_PROVIDER_IDLE_SECONDS": 1}))
    yield server
    server.stop()


def test_threaded_hung_answers_time_out_free_their_places_and_close_later(hang_server, peer):
    visitor = Visitor(hang_server)
    ws = visitor.connect()
    ids = [f"h{n}" for n in range(4)]
    started = time.monotonic()
    for request_id in ids:
        ws.send(hang_turn(request_id))
    frames = finals(ws, ids)
    assert time.monotonic() - started < 10
    for request_id in ids:
        final = frames[request_id][-1]
        assert text_of(frames[request_id]) == "connected "
        assert final["type"] == "error" and final["code"] == "timeout", final
        assert "hang" in final["message"] and "1 s" in final["message"]
        stored = visitor.http.get(f"/api/conversations/{frames[request_id][0]['conversation_id']}").json["messages"][-1]
        assert (stored["status"], stored["content"], stored["error"]["code"]) == ("error", "connected ", "timeout")
    # Neither the socket's four places nor the owner's are held by the four that timed out.
    ws.send(turn("next", content="after the timeouts"))
    assert text_of(finals(ws, ["next"])["next"]) == "after the timeouts "
    # A thread blocked in a read cannot be interrupted: its generator is closed as soon as the read returns.
    assert peer.closed == 0
    peer.speak()
    assert peer.wait(lambda: peer.closed == 4), f"{peer.closed} of 4 connections closed"


def test_a_timed_out_plain_answer_ends_with_a_timeout_frame(hang_server, peer):
    ws = hang_server.connect(headers={"Accept-Language": "ru"})
    ws.send(chat("p", provider="hang", model="read"))
    frames = finals(ws, ["p"])["p"]
    assert [f["type"] for f in frames] == ["start", "delta", "error"]
    assert frames[-1]["code"] == "timeout" and "1 с" in frames[-1]["message"]
    # The thread ends, leaving no thread behind for the tests that count them.
    peer.speak()
    assert peer.wait(lambda: peer.closed == 1)


def test_the_idle_limits_of_local_servers_and_auto(app_config):
    app_config.update(
        WEBUI_PROVIDER_IDLE_SECONDS=200,
        WEBUI_LOCAL_IDLE_SECONDS=700,
        WEBUI_PROVIDERS=[
            {"name": "quick", "type": "openai", "base_url": "http://127.0.0.1:9/v1", "models": ["m"]},
            {"name": "patient", "type": "openai", "base_url": "http://127.0.0.1:9/v1", "models": ["m"],
             "read_timeout": 500},
        ],
    )
    registry = create_app(app_config).extensions["webui.registry"]
    limits = {provider.name: provider.idle_limit(200) for provider in registry}
    # A server's own read_timeout, when longer, has it; auto waits as long as its slowest provider.
    assert limits["local"] == 700 and limits["quick"] == 200 and limits["patient"] == 500 and limits["testing"] == 200
    assert limits["auto"] == 700


def serve(tmp_path, providers, **settings):
    """`webui serve` (gunicorn on gevent) with these drop-ins and settings."""
    env = clean_env(WEBUI_DATA_DIR=str(tmp_path / "data"), WEBUI_PROVIDERS_DIR=str(providers), LANG="C", **settings)
    return ServerProcess([sys.executable, "-m", "webui", "--port", "0", "serve"], env=env)


def test_under_gevent_hung_answers_are_killed_and_their_connections_closed(tmp_path, hang_dir, peer):
    server = serve(tmp_path, hang_dir, WEBUI_PROVIDER_IDLE_SECONDS="1")
    sockets = []
    try:
        browser = Browser(server.url)
        browser.get("/")
        # A tab starts four answers and is closed: the answers go on being written, holding the owner's four places.
        tab = browser.connect()
        sockets.append(tab)
        ids = [f"g{n}" for n in range(4)]
        for request_id in ids:
            tab.send(hang_turn(request_id))
        assert peer.wait(lambda: len(peer.connections) == 4)
        tab.close()
        assert peer.wait(lambda: peer.closed == 4), f"{peer.closed} of 4 hung connections closed"
        again = browser.connect()
        sockets.append(again)
        again.send(turn("next", content="free again"))
        assert text_of(finals(again, ["next"])["next"]) == "free again "
        # The stored answers ended with the timeout.
        listed = browser.get("/api/conversations").json()["conversations"]
        statuses = [browser.get(f"/api/conversations/{c['id']}").json()["messages"][-1] for c in listed]
        ends = sorted((m["status"], m["content"]) for m in statuses)
        assert ends == [("complete", "free again ")] + [("error", "connected ")] * 4
        # A sleeping provider is woken and closed too, with its timeout frame on the socket.
        again.send(chat("s", provider="hang", model="sleep"))
        assert finals(again, ["s"])["s"][-1]["code"] == "timeout"
    finally:
        for ws in sockets:
            ws.close()
        server.stop()


def test_under_gevent_stop_closes_a_hung_generator_at_once(tmp_path, hang_dir, peer):
    server = serve(tmp_path, hang_dir)
    ws = None
    try:
        ws = Socket(Client.connect(server.url.replace("http", "ws", 1) + "/ws"))
        ws.send(chat("r", provider="hang", model="read"))
        assert [ws.recv()["type"], ws.recv()["text"]] == ["start", "connected "]
        ws.send({"type": "stop", "request_id": "r"})
        assert ws.until_final("r")[-1]["reason"] == "stopped"
        assert peer.wait(lambda: peer.closed == 1, timeout=5), "the generator kept its connection after stop"
        # A closed socket's plain answer is closed the same way.
        ws.send(chat("c", provider="hang", model="read"))
        assert peer.wait(lambda: len(peer.connections) == 2)
        ws.close()
        assert peer.wait(lambda: peer.closed == 2, timeout=5), "the generator kept its connection past its socket"
    finally:
        if ws:
            ws.close()
        server.stop()


def drain(server):
    """What the server printed after its first lines, once it has stopped."""
    lines = []
    while not server.lines.empty():
        line = server.lines.get_nowait()
        if line is not None:
            lines.append(line)
    return "".join(lines)


def test_under_gevent_stopping_the_local_model_mid_step_leaves_it_usable(tmp_path, providers_dir):
    # The runner waits for a native step of llama.cpp when it is interrupted: it must let the step end before it lets
    # go of the model, or the next answer would run the model in two threads at once.
    server = serve(tmp_path, providers_dir)
    ws = None
    model = bundled_model_path().stem
    try:
        ws = Socket(Client.connect(server.url.replace("http", "ws", 1) + "/ws"))
        for n in range(3):
            options = {"max_tokens": 256, "seed": n}
            ws.send(chat(f"l{n}", "Count to one hundred.", provider="local", model=model, options=options))
            assert [ws.recv(timeout=120)["type"], ws.recv(timeout=60)["type"]] == ["start", "delta"]
            ws.send({"type": "stop", "request_id": f"l{n}"})
            assert ws.until_final(f"l{n}")[-1]["reason"] == "stopped"
        ws.send(chat("last", "Say hello.", provider="local", model=model, options={"max_tokens": 8, "seed": 1}))
        frames = ws.until_final("last", timeout=60)
        # Eight tokens may end the answer before the model does (length).
        assert frames[-1]["type"] == "done" and frames[-1]["reason"] in ("complete", "length") and text_of(frames).strip()
    finally:
        if ws:
            ws.close()
        server.stop()
    output = drain(server)
    assert "already executing" not in output and "Traceback" not in output, output
