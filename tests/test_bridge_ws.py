"""The WebSocket bridge, over real sockets to a real server on a loopback port."""
import json
import threading
import time

import pytest
from simple_websocket import Client, ConnectionClosed

from conftest import chat, delta_seqs


def text_of(frames):
    """Concatenate the delta frames' text."""
    return "".join(f["text"] for f in frames if f["type"] == "delta")


def test_deltas_arrive_in_order_between_start_and_done(server):
    ws = server.connect()
    words = [f"w{n}" for n in range(50)]
    ws.send(chat("a1", " ".join(words)))
    frames = ws.until_final("a1")
    assert frames[0] == {
        "type": "start", "request_id": "a1", "provider": "testing", "model": "echo",
        "context": {"limit": None, "used": None, "dropped_messages": 0},
    }
    deltas = [f for f in frames if f["type"] == "delta"]
    assert delta_seqs(deltas)[-1] == 50
    assert text_of(frames) == "".join(w + " " for w in words)
    done = frames[-1]
    assert done["type"] == "done" and done["reason"] == "complete"
    assert done["stats"]["chunks"] == 50
    assert done["stats"]["chars"] == len(text_of(frames))
    assert done["stats"]["ttft_ms"] is not None and done["stats"]["duration_ms"] >= done["stats"]["ttft_ms"]


def test_deltas_are_forwarded_as_they_are_produced(server):
    ws = server.connect()
    ws.send(chat("live", model="slow"))
    first = [ws.recv(), ws.recv()]
    assert [f["type"] for f in first] == ["start", "delta"]
    # The slow provider needs 40 s for all its chunks; a second delta within a few seconds proves no buffering.
    assert ws.recv(timeout=5)["type"] == "delta"
    ws.send({"type": "stop", "request_id": "live"})
    assert ws.until_final("live")[-1]["reason"] == "stopped"


def test_stop_closes_the_generator_and_keeps_the_text(server, testing_provider):
    ws = server.connect()
    ws.send(chat("s1", model="slow"))
    frames = [ws.recv() for _ in range(4)]
    ws.send({"type": "stop", "request_id": "s1"})
    frames += ws.until_final("s1")
    assert frames[-1]["type"] == "done" and frames[-1]["reason"] == "stopped"
    assert text_of(frames).startswith("tick0 tick1 tick2 ")
    assert testing_provider().closed_event.wait(5), "the provider's finally did not run"
    assert "slow" in testing_provider().closed
    assert ws.ws.receive(timeout=0.3) is None, "frames kept coming after done"
    ws.send(chat("s2", "still works"))
    assert text_of(ws.until_final("s2")) == "still works "


def test_disconnect_closes_the_generator(server, testing_provider):
    ws = server.connect()
    ws.send(chat("d1", model="slow"))
    ws.recv()
    ws.recv()
    ws.close()
    assert testing_provider().closed_event.wait(5), "the generator kept running for nobody"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(t.name.startswith("webui-answer-") for t in threading.enumerate()):
        time.sleep(0.05)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("webui-answer-")]


@pytest.mark.parametrize(
    "frame, code",
    [
        ("{not json", "bad_request"),
        ("[1, 2]", "bad_request"),
        ({"type": "chat", "provider": "testing", "model": "echo", "messages": [{"role": "user", "content": "x"}]}, "bad_request"),
        ({"type": "chat", "request_id": "b", "provider": "testing", "model": "echo"}, "bad_request"),
        ({"type": "chat", "request_id": "b", "messages": [{"role": "wizard", "content": "x"}]}, "bad_request"),
        ({"type": "dance", "request_id": "b"}, "bad_request"),
        (chat("b", provider="nope"), "unknown_provider"),
        (chat("b", model="nope"), "unknown_model"),
        (chat("b", options={"temperature": "hot"}), "bad_request"),
        (chat("b", options={"temperature": 9}), "bad_request"),
        (chat("b", options={"base_url": "http://10.0.0.1"}), "bad_request"),
        (chat("b", provider="broken_module", model="never"), "provider_unavailable"),
        ({"type": "stop", "request_id": "nothing-running"}, "unknown_request"),
        (json.dumps(chat("b", "x" * 200_000)), "too_large"),
    ],
)
def test_bad_input_gets_an_error_and_the_connection_stays_usable(server, testing_provider, frame, code):
    ws = server.connect()
    calls = len(testing_provider().started)
    ws.send(frame)
    error = ws.recv()
    assert error["type"] == "error" and error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert len(testing_provider().started) == calls, "bad input reached the provider"
    ws.send(chat("after", "ok then"))
    assert text_of(ws.until_final("after")) == "ok then "


def test_binary_frame_is_refused(server):
    ws = server.connect()
    ws.send(b"\x00\x01")
    assert ws.recv()["code"] == "bad_request"


def test_errors_speak_the_pages_language(server):
    ws = server.connect(headers={"Accept-Language": "ru-RU,ru;q=0.9"})
    ws.send(chat("r", provider="nope"))
    error = ws.recv()
    assert error["code"] == "unknown_provider"
    assert "Нет провайдера" in error["message"]


def test_a_provider_failing_midway_keeps_the_partial_text(server):
    ws = server.connect()
    ws.send(chat("f1", model="fail_midway"))
    frames = ws.until_final("f1")
    assert text_of(frames) == "partial answer "
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "provider_error"
    assert "upstream went away" in frames[-1]["message"]
    ws.send(chat("f2", "next one"))
    assert text_of(ws.until_final("f2")) == "next one "


def test_provider_errors_never_show_a_key(server):
    ws = server.connect()
    ws.send(chat("k", model="fail_with_secret"))
    frames = ws.until_final("k")
    assert frames[-1]["type"] == "error"
    assert "canary" not in json.dumps(frames)


def test_a_provider_with_no_output_completes_empty(server):
    ws = server.connect()
    ws.send(chat("e", model="silent"))
    frames = ws.until_final("e")
    assert [f["type"] for f in frames] == ["start", "done"]
    assert frames[-1]["stats"]["ttft_ms"] is None


def test_one_socket_carries_requests_one_after_another(server):
    ws = server.connect()
    for n in range(5):
        ws.send(chat(n, f"message {n}"))
        assert text_of(ws.until_final(n)) == f"message {n} "


def test_options_reach_the_provider(server, testing_provider):
    ws = server.connect()
    ws.send(chat("o", options={"temperature": 0.2, "max_tokens": 7, "stop": ["\n"]}))
    ws.until_final("o")
    assert testing_provider().seen_kwargs[-1] == {"temperature": 0.2, "max_tokens": 7, "stop": ["\n"]}


def test_many_sockets_stream_at_the_same_time(server):
    count = 12
    sockets = [server.connect() for _ in range(count)]
    for n, ws in enumerate(sockets):
        ws.send(chat(f"c{n}", " ".join(f"s{n}-{i}" for i in range(30))))
    for n, ws in enumerate(sockets):
        assert text_of(ws.until_final(f"c{n}")) == "".join(f"s{n}-{i} " for i in range(30))


def test_a_frame_over_the_hard_limit_closes_the_socket_with_1009(server):
    ws = Client.connect(server.ws_url)
    ws.send("x" * (server.app.config["WEBUI_MAX_FRAME_BYTES"] + 1))
    with pytest.raises(ConnectionClosed):
        for _ in range(50):
            ws.receive(timeout=0.2)
    assert ws.close_reason == 1009

