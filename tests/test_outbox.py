"""The outbox and the pump: chunks that pile up leave as one frame, and a reader that stops reading holds up no one."""
import json
import socket
import time

import pytest

from bench import frames as wire
from conftest import chat, raw_handshake
from webui.bridge import Stream
from webui.outbox import Outbox, Pump


class Doorbell:
    """A pump that only counts its calls, so a test decides when the outbox is written."""

    def __init__(self):
        """Not rung yet."""
        self.rings = 0

    def wake(self, outbox):
        """Count."""
        self.rings += 1


def encode_line(text):
    """One JSON frame per line: the unit tests read frames back without a WebSocket parser."""
    return text.encode() + b"\n"


def read_lines(sock, count, timeout=10):
    """Read `count` newline-ended JSON frames."""
    sock.settimeout(timeout)
    data = b""
    while data.count(b"\n") < count:
        chunk = sock.recv(65536)
        assert chunk, "the socket closed"
        data += chunk
    return [json.loads(line) for line in data.splitlines()]


def test_chunks_queued_before_the_pump_comes_leave_as_one_frame():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        bell = Doorbell()
        outbox = Outbox(bell, ours, encode_line)
        stream = Stream(outbox.listener("r"), "p", "m")
        for text in ("a", "b", "c"):
            assert stream.delta(text)
        assert bell.rings == 1
        assert outbox.flush() is False
        assert read_lines(theirs, 2) == [
            {"type": "start", "request_id": "r", "provider": "p", "model": "m"},
            {"type": "delta", "request_id": "r", "seq": 3, "text": "abc"},
        ]
        stream.delta("d")
        stream.finish("complete")
        assert bell.rings == 2
        outbox.flush()
        delta, done = read_lines(theirs, 2)
        assert delta == {"type": "delta", "request_id": "r", "seq": 4, "text": "d"}
        assert done["type"] == "done" and done["stats"]["chunks"] == 4


def test_a_late_listener_gets_what_it_missed_in_one_frame_then_the_live_chunks():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        outbox = Outbox(Doorbell(), ours, encode_line)
        stream = Stream(outbox.listener("first"), "p", "m")
        for n in range(5):
            stream.delta(f"{n} ")
        assert stream.attach(outbox.listener("late", after=2))
        stream.delta("5 ")
        outbox.flush()
        received = read_lines(theirs, 4)
        late = [f for f in received if f["request_id"] == "late"]
        assert late[0]["type"] == "start"
        assert late[1] == {"type": "delta", "request_id": "late", "seq": 6, "text": "2 3 4 5 "}
        first = [f for f in received if f["request_id"] == "first"]
        assert first[1] == {"type": "delta", "request_id": "first", "seq": 6, "text": "0 1 2 3 4 5 "}


def test_a_closed_outbox_takes_nothing_and_its_plain_stream_stops():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        outbox = Outbox(Doorbell(), ours, encode_line)
        stream = Stream(outbox.listener("r"), "p", "m")
        assert stream.delta("a")
        outbox.close()
        assert outbox.put({"type": "error"}) is False
        assert stream.delta("b") is False
        assert outbox.flush() is False
        theirs.setblocking(False)
        with pytest.raises(BlockingIOError):
            theirs.recv(100)


def test_a_full_socket_never_blocks_the_pump_and_loses_nothing():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        outbox = Outbox(Pump(), ours, encode_line)
        big = "x" * 100_000
        started = time.monotonic()
        for n in range(40):
            assert outbox.put({"n": n, "text": big})
        # The library's own bytes (a ping, say) may go ahead of frames not yet written, never into one.
        outbox.put_bytes(b'{"n": "ping"}\n')
        assert time.monotonic() - started < 1, "putting frames must not wait for the reader"
        time.sleep(0.3)
        received = read_lines(theirs, 41, timeout=20)
        assert [f["n"] for f in received if f["n"] != "ping"] == list(range(40))
        assert all(f["text"] == big for f in received if f["n"] != "ping")


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
        assert "".join(f["text"] for f in frames if f["type"] == "delta") == words + " "

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
        text = "".join(f["text"] for f in received)
        assert text == "".join(f"{n:08d}" * 8192 for n in range(400))


def test_the_pump_thread_ends_when_idle_and_comes_back(monkeypatch):
    monkeypatch.setattr("webui.outbox.IDLE_SECONDS", 0.05)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        pump = Pump()
        outbox = Outbox(pump, ours, encode_line)
        threads = []
        for n in range(2):
            outbox.put({"n": n})
            threads.append(pump._thread)
            assert read_lines(theirs, 1) == [{"n": n}]
            threads[-1].join(5)
            assert not threads[-1].is_alive(), "the pump thread did not end"
        assert threads[0] is not threads[1]
