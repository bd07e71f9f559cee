"""A reader that falls behind, stops reading or cannot be written to costs only its own connection."""
import json
import socket
import threading
import time

import pytest

from bench import frames as wire
from conftest import chat, raw_handshake
from test_writer import Line, text_of
from webui.chat.writer import Pacer, Writer


def test_putting_frames_never_waits_for_the_reader_and_loses_nothing():
    line = Line()
    try:
        line.ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        big = "x" * 100_000
        started = time.monotonic()
        for n in range(40):
            assert line.writer.put({"n": n, "text": big})
        # The library's own bytes (a ping, say) leave between two frames, never inside one.
        line.writer.put_bytes(b'{"n": "ping"}\n')
        assert time.monotonic() - started < 1, "putting frames must not wait for the reader"
        time.sleep(0.3)
        received = line.read(41, timeout=20)
        assert [f["n"] for f in received] == [*range(40), "ping"]
        assert all(f["text"] == big for f in received[:40])
    finally:
        line.close()


def test_a_reader_that_takes_nothing_past_the_send_timeout_is_cut_off_alone():
    stuck, other = Line(send_timeout=0.5), Line()
    try:
        stuck.ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        stuck.writer.put({"text": "x" * 1_000_000})
        answer = other.answer()
        answer.delta("still")
        answer.finish("complete")
        assert text_of(other.read(3)) == "still"
        deadline = time.monotonic() + 5
        while not stuck.writer.closed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stuck.writer.closed
        assert stuck.writer.put({"type": "error"}) is False
    finally:
        stuck.close()
        other.close()


def test_a_reader_that_leaves_frames_waiting_past_the_bound_is_cut_off():
    # A client that asks and never reads: its answers pile up behind what the socket holds, until the bound.
    line = Line(max_bytes=1_000_000)
    try:
        line.ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        frame = {"type": "error", "text": "x" * 10_000}
        taken = 0
        while taken < 1000 and line.writer.put(frame):
            taken += 1
        assert 50 <= taken < 300
        assert line.writer.put({"type": "error"}) is False
        assert len(line.read(1000)) < taken
    finally:
        line.close()


def test_chunks_waiting_for_a_slow_reader_do_not_count_against_the_bound():
    line = Line(max_bytes=10_000)
    try:
        answer = line.answer()
        for n in range(100):
            assert answer.delta(f"{n:04d}" * 2500)
        answer.finish("complete")
        frames = line.read(200)
        assert frames[-1]["type"] == "done"
        assert text_of(frames) == "".join(f"{n:04d}" * 2500 for n in range(100))
    finally:
        line.close()


@pytest.fixture
def app_config(app_config):
    """Answers here may be far longer than the default cap: a flood must be more than the socket buffers hold."""
    return {**app_config, "WEBUI_MAX_ANSWER_CHARS": 100_000_000}


def test_a_reader_that_stops_reading_holds_up_only_itself(server):
    # A raw socket that reads nothing while 25 MiB stream at it: far more than the socket buffers hold.
    status, stuck = raw_handshake(server.url)
    assert status == 101
    with stuck:
        request = chat("flood", model="flood", options={"max_tokens": 400})
        stuck.sendall(wire.encode(wire.TEXT, json.dumps(request).encode(), mask=True))
        time.sleep(1)

        other = server.connect()
        words = " ".join(f"w{n}" for n in range(200))
        other.send(chat("echo", words))
        frames = other.until_final("echo", timeout=10)
        assert frames[-1]["reason"] == "complete"
        assert text_of(frames) == words + " "

        parser, received, final = wire.Parser(), [], None
        deadline = time.monotonic() + 60
        stuck.settimeout(10)
        while final is None and time.monotonic() < deadline:
            for opcode, payload in parser.feed(stuck.recv(1 << 20)):
                frame = json.loads(payload) if opcode == wire.TEXT else {}
                if frame.get("type") == "delta":
                    received.append(frame)
                elif frame.get("type") in ("done", "error"):
                    final = frame
        assert final is not None and final["reason"] == "complete"
        assert received[-1]["seq"] == 400
        assert "".join(f["text"] for f in received) == "".join(f"{n:08d}" * 8192 for n in range(400))


def test_text_that_cannot_be_encoded_ends_its_request_and_the_socket_goes_on(server):
    ws = server.connect()
    ws.send(chat("bad", "hello \ud800 world"))
    ws.send(chat("next", "still here"))
    finals, deadline = {}, time.monotonic() + 5
    while len(finals) < 2 and time.monotonic() < deadline:
        data = ws.ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        if data is None:
            break
        frame = json.loads(data)
        if frame["type"] in ("done", "error"):
            finals[frame["request_id"]] = frame
    assert set(finals) == {"bad", "next"}, f"final frames received: {finals}"


def test_a_writer_whose_encoding_fails_cuts_only_its_own_connection():
    def broken(text):
        """An encoder that fails the way a bug would."""
        raise ValueError("a bug")

    ours, theirs = socket.socketpair()
    with ours, theirs:
        writer = Writer(ours, broken, Pacer())
        writer.put({"type": "x"})
        theirs.settimeout(5)
        assert theirs.recv(10) == b""
        assert writer.closed and threading.active_count() < 100
