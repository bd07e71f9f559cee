"""The outbox and the pump: chunks that pile up leave as one frame, and a reader that stops reading holds up no one."""
import json
import socket
import time

import pytest

from bench import frames as wire
from conftest import chat, raw_handshake
from webui.bridge import Stream
from webui.outbox import LATE_SECONDS, MIN_GAP_SECONDS, WINDOW_SECONDS, WRITES_PER_SECOND, Outbox, Pacer, Pump


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self):
        """Start at 100 s."""
        self.now = 100.0

    def __call__(self):
        """The time."""
        return self.now


class SteadyPacer:
    """A pacer as under heavy load: every socket waits one second between writes."""

    def gap(self, now):
        """One second."""
        return 1.0

    def wrote(self, outbox, now):
        """Nothing to count."""


class Deadlines:
    """A pump that only records the deadlines asked of it, so a test decides when they come."""

    def __init__(self):
        """None yet."""
        self.asked = []

    def at(self, due, outbox):
        """Record."""
        self.asked.append(due)


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


class Line:
    """One outbox on a socket pair, with a clock and a pump under the test's control, writing frames as lines."""

    def __init__(self, pacer):
        """Open the pair; `theirs` is the reading end."""
        self.ours, self.theirs = socket.socketpair()
        self.clock, self.pump = Clock(), Deadlines()
        self.outbox = Outbox(self.pump, pacer, self.ours, encode_line, clock=self.clock)

    def stream(self, request_id="r"):
        """A plain stream listened to through the outbox."""
        return Stream(self.outbox.listener(request_id), "p", "m")

    def read(self, count):
        """The next `count` frames."""
        return read_lines(self.theirs, count)

    def close(self):
        """Close both ends."""
        self.ours.close()
        self.theirs.close()


@pytest.fixture
def line():
    """A Line with the real pacer."""
    opened = Line(Pacer())
    yield opened
    opened.close()


@pytest.fixture
def loaded_line():
    """A Line whose pacer always asks for a second between writes of chunks."""
    opened = Line(SteadyPacer())
    yield opened
    opened.close()


def test_an_idle_server_writes_each_chunk_at_once(line):
    stream = line.stream()
    for n, text in enumerate("abc", start=1):
        line.clock.now += 0.02
        assert stream.delta(text)
        assert line.read(1 + (n == 1))[-1] == {"type": "delta", "request_id": "r", "seq": n, "text": text}
    assert line.pump.asked == []


def test_chunks_faster_than_a_screen_shows_them_leave_together(line):
    stream = line.stream()
    for text in "abcde":
        line.clock.now += MIN_GAP_SECONDS / 4
        stream.delta(text)
    assert [f.get("text") for f in line.read(2)] == [None, "a"]
    first_write = 100 + MIN_GAP_SECONDS / 4
    assert line.pump.asked == [first_write + MIN_GAP_SECONDS + LATE_SECONDS]
    line.clock.now = line.pump.asked[0]
    line.outbox.due()
    assert line.read(1) == [{"type": "delta", "request_id": "r", "seq": 5, "text": "bcde"}]


def test_under_load_chunks_wait_out_the_gap_and_leave_as_one_frame(loaded_line):
    line = loaded_line
    stream = line.stream()
    for text in ("a", "b", "c", "d"):
        assert stream.delta(text)
        line.clock.now += 0.1
    # The first chunk went at once; the next ones wait out the second after it, or the pump a little longer.
    assert [f["type"] for f in line.read(2)] == ["start", "delta"]
    assert line.pump.asked == [101.0 + LATE_SECONDS]
    line.clock.now = 101.0 + LATE_SECONDS
    line.outbox.due()
    assert line.read(1) == [{"type": "delta", "request_id": "r", "seq": 4, "text": "bcd"}]
    line.clock.now += 1.5
    stream.delta("e")
    assert line.read(1) == [{"type": "delta", "request_id": "r", "seq": 5, "text": "e"}]
    stream.delta("f")
    stream.finish("complete")
    # The final frame is never held back, nor are the chunks queued before it.
    delta, done = line.read(2)
    assert delta == {"type": "delta", "request_id": "r", "seq": 6, "text": "f"}
    assert done["type"] == "done" and done["stats"]["chunks"] == 6


def test_the_gap_grows_with_the_number_of_busy_sockets_and_goes_when_they_stop():
    pacer = Pacer()
    for n in range(500):
        pacer.wrote(n, 10.0)
    pacer.wrote(0, 10.0 + WINDOW_SECONDS)
    assert pacer.gap(10.0 + WINDOW_SECONDS) == 500 / WRITES_PER_SECOND
    assert pacer.gap(10.0 + 3 * WINDOW_SECONDS) == MIN_GAP_SECONDS
    pacer.wrote(0, 10.0 + 3 * WINDOW_SECONDS)
    assert pacer.gap(10.0 + 3 * WINDOW_SECONDS) == MIN_GAP_SECONDS


def test_a_late_listener_gets_what_it_missed_in_one_frame_then_the_live_chunks(line):
    stream = line.stream("first")
    for n in range(5):
        line.clock.now += 0.02
        stream.delta(f"{n} ")
    assert stream.attach(line.outbox.listener("late", after=2))
    line.clock.now += 0.02
    stream.delta("5 ")
    received = line.read(9)
    late = [f for f in received if f["request_id"] == "late"]
    # The replay waits out the socket's gap (it was just written), so the next chunk rides along.
    assert late == [
        {"type": "start", "request_id": "late", "provider": "p", "model": "m"},
        {"type": "delta", "request_id": "late", "seq": 6, "text": "2 3 4 5 "},
    ]
    assert [f.get("seq") for f in received if f["request_id"] == "first"] == [None, 1, 2, 3, 4, 5, 6]


def test_a_closed_outbox_takes_nothing_and_its_plain_stream_stops(line):
    stream = line.stream()
    assert stream.delta("a")
    line.read(2)
    line.outbox.close()
    assert line.outbox.put({"type": "error"}) is False
    assert stream.delta("b") is False
    line.theirs.setblocking(False)
    with pytest.raises(BlockingIOError):
        line.theirs.recv(100)


def test_a_full_socket_never_blocks_the_pump_and_loses_nothing():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        outbox = Outbox(Pump(), Pacer(), ours, encode_line)
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


def test_the_pump_calls_at_deadlines_and_its_thread_ends_when_idle(monkeypatch):
    monkeypatch.setattr("webui.outbox.IDLE_SECONDS", 0.05)
    pump = Pump()
    called = []

    class Waiting:
        """An outbox that notes when its deadline came."""

        def due(self):
            """Note the time."""
            called.append(time.monotonic())

    threads = []
    for n in range(2):
        asked = time.monotonic() + 0.05
        pump.at(asked, Waiting())
        threads.append(pump._thread)
        threads[-1].join(5)
        assert not threads[-1].is_alive(), "the pump thread did not end"
        assert len(called) == n + 1 and called[-1] >= asked
    assert threads[0] is not threads[1]
