"""The outbox and the pump: chunks that pile up leave as one frame, a reader that stops reading holds up no one,
and no interleaving of threads loses or strands a frame."""
import json
import socket
import sys
import threading
import time

import pytest

from bench import frames as wire
from conftest import DaemonThread, chat, delta_seqs, raw_handshake
from webui.bridge import Stream
from webui.outbox import (
    COOPERATIVE_LATE_SECONDS,
    COOPERATIVE_WRITES_PER_SECOND,
    FRAME_CHUNKS,
    HANDOVER_GAPS,
    LATE_SECONDS,
    MIN_GAP_SECONDS,
    WINDOW_SECONDS,
    WRITES_PER_SECOND,
    Outbox,
    Pacer,
    Pump,
    Subscription,
)


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self):
        """Start at 100 s."""
        self.now = 100.0

    def __call__(self):
        """The time."""
        return self.now


class FixedPacer(Pacer):
    """A pacer as under load: every socket waits `seconds` after writing chunks."""

    def __init__(self, seconds, **pacing):
        """Always this gap; `pacing` as for Pacer."""
        super().__init__(**pacing)
        self.seconds = seconds

    def gap(self, now):
        """The fixed gap."""
        return self.seconds

    def wrote(self, outbox, now):
        """Nothing to count."""


class Deadlines:
    """A pump that records the deadlines asked of it; the test fires them when it likes, as the pump's thread would."""

    def __init__(self):
        """None yet."""
        self.asked = []
        self.waiting = []

    def at(self, due, outbox):
        """Record the time and the outbox."""
        self.asked.append(due)
        self.waiting.append(outbox)

    def fire(self):
        """Call due() on every outbox that asked."""
        waiting, self.waiting = self.waiting, []
        for outbox in waiting:
            outbox.due()


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
    opened = Line(FixedPacer(1.0))
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
    line.pump.fire()
    # Their turn has come: the thread that brings the next chunk writes them all.
    stream.delta("f")
    assert line.read(1) == [{"type": "delta", "request_id": "r", "seq": 6, "text": "bcdef"}]
    line.clock.now += LATE_SECONDS
    line.pump.fire()
    stream.delta("g")
    assert line.read(1) == [{"type": "delta", "request_id": "r", "seq": 7, "text": "g"}]


def test_when_no_chunk_comes_after_their_turn_the_pump_writes_them(line):
    stream = line.stream()
    for text in "abc":
        line.clock.now += MIN_GAP_SECONDS / 4
        stream.delta(text)
    line.read(2)
    turn = line.pump.asked[0]
    line.clock.now = turn
    line.pump.fire()
    # The pump gives the streaming thread a little longer, more under load (see HANDOVER_GAPS).
    fallback = turn + LATE_SECONDS + HANDOVER_GAPS * MIN_GAP_SECONDS
    assert line.pump.asked == [turn, pytest.approx(fallback)]
    line.clock.now = fallback
    line.pump.fire()
    assert line.read(1) == [{"type": "delta", "request_id": "r", "seq": 3, "text": "bc"}]


def test_a_deadline_from_before_a_write_waits_for_the_next_turn(loaded_line):
    line = loaded_line
    stream = line.stream()
    stream.delta("a")
    line.clock.now += 0.1
    stream.delta("b")
    assert line.pump.asked == [101.0 + LATE_SECONDS]
    line.clock.now = 101.0 + LATE_SECONDS
    line.pump.fire()
    stream.delta("c")
    assert [f.get("text") for f in line.read(3)] == [None, "a", "bc"]
    line.clock.now += 0.1
    stream.delta("d")
    # The deadline asked for "b" fires after "c"'s thread wrote: "d" waits for its own turn, a second later.
    line.pump.fire()
    assert line.pump.asked[-1] == 101.0 + LATE_SECONDS + 1.0 + LATE_SECONDS
    line.clock.now = line.pump.asked[-1]
    line.pump.fire()
    stream.delta("e")
    assert line.read(1) == [{"type": "delta", "request_id": "r", "seq": 5, "text": "de"}]


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
    line.pump.fire()
    # No chunk came to write them: the pump does, later the longer the gap.
    assert line.pump.asked[-1] == pytest.approx(101.0 + 2 * LATE_SECONDS + HANDOVER_GAPS * 1.0)
    line.clock.now = line.pump.asked[-1]
    line.pump.fire()
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


def test_under_gevent_the_pump_writes_paced_chunks_itself_at_their_deadline():
    line = Line(FixedPacer(1.0, writes_per_second=COOPERATIVE_WRITES_PER_SECOND, late=COOPERATIVE_LATE_SECONDS,
                           handover=False))
    try:
        stream = line.stream()
        stream.delta("a")
        line.clock.now += 0.1
        stream.delta("b")
        stream.delta("c")
        assert line.pump.asked == [101.0 + COOPERATIVE_LATE_SECONDS]
        line.clock.now = line.pump.asked[0]
        line.pump.fire()
        # No turn for the next chunk's thread to take: the pump has written them, and asks for nothing more.
        assert [f.get("text") for f in line.read(3)] == [None, "a", "bc"]
        assert line.pump.asked == [101.0 + COOPERATIVE_LATE_SECONDS]
    finally:
        line.close()


def test_a_backlog_leaves_in_frames_of_at_most_frame_chunks(loaded_line):
    line = loaded_line
    stream = line.stream()
    stream.delta("first ")
    texts = [f"{n} " for n in range(2 * FRAME_CHUNKS + 5)]
    for text in texts:
        stream.delta(text)
    line.clock.now += 1.0 + LATE_SECONDS
    line.pump.fire()
    stream.delta("last")
    frames = line.read(2 + 3)[2:]
    total = 1 + len(texts) + 1
    assert [f["seq"] for f in frames] == [1 + FRAME_CHUNKS, 1 + 2 * FRAME_CHUNKS, total]
    assert "".join(f["text"] for f in frames) == "".join(texts) + "last"


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
        {"type": "start", "request_id": "late", "provider": "p", "model": "m", "context": None},
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
    monkeypatch.setattr("webui.pump.IDLE_SECONDS", 0.05)
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


# Races and failures found in review: each test failed before its fix.


class SchedulingLock:
    """Outbox._lock with a hook run right after its n-th release: stands in for the scheduler switching threads."""

    def __init__(self):
        """No hook armed."""
        self._lock = threading.Lock()
        self.countdown = None
        self.then = None

    def __enter__(self):
        """Take the lock."""
        self._lock.acquire()
        return self

    def __exit__(self, *exc):
        """Release it, then run the hook if this was the n-th release."""
        self._lock.release()
        if self.countdown is not None:
            self.countdown -= 1
            if self.countdown == 0:
                self.countdown = None
                self.then()


def available_lines(sock, want, timeout=3.0, between=None):
    """The frames that arrive within `timeout` (stops early at `want`); `between()` runs while waiting."""
    sock.setblocking(False)
    data, deadline = b"", time.monotonic() + timeout
    while data.count(b"\n") < want and time.monotonic() < deadline:
        if between:
            between()
        try:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        except BlockingIOError:
            time.sleep(0.01)
    # Only whole lines: a frame the outbox has not finished writing is not received.
    return [json.loads(line) for line in data.split(b"\n")[:-1]]


def test_a_retry_that_comes_during_a_flush_is_not_lost():
    # A reader behind by a whole send buffer: the rest of frame 0 waits, the pump is asked to retry.
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        pump = Deadlines()
        outbox = Outbox(pump, Pacer(), ours, encode_line)
        outbox._lock = SchedulingLock()
        outbox.put({"n": 0, "text": "x" * 100_000})
        assert outbox._unsent and pump.waiting
        # Frame 1 is flushed by its own thread; the pump's retry runs between that flush's write (which found a
        # deadline already set) and its last look at the queue (release 1: put, 2: taking the items, 3: the write).
        outbox._lock.countdown, outbox._lock.then = 3, pump.fire
        outbox.put({"n": 1, "text": "last"})
        # The reader now reads everything; the pump serves every deadline it is given.
        received = available_lines(theirs, 2, between=pump.fire)
        assert [f["n"] for f in received] == [0, 1], "bytes left in the outbox with no deadline to write them"


def test_the_pump_survives_a_frame_that_cannot_be_encoded():
    pump = Pump()
    (bad_ours, bad_theirs), (good_ours, good_theirs) = socket.socketpair(), socket.socketpair()
    with bad_ours, bad_theirs, good_ours, good_theirs:
        bad = Stream(Outbox(pump, FixedPacer(0.05), bad_ours, encode_line).listener("bad"), "p", "m")
        bad.delta("a")
        # A lone surrogate (a provider's JSON "\ud83d" split from its pair): paced, so the pump thread encodes it.
        bad.delta("\ud800")
        time.sleep(0.3)
        good = Stream(Outbox(pump, FixedPacer(0.05), good_ours, encode_line).listener("good"), "p", "m")
        good.delta("x")
        good.delta("y")  # paced: only the pump writes it
        received = available_lines(good_theirs, 3, timeout=2)
        assert "y" in [f.get("text") for f in received], "another socket's paced chunk was never written: the pump is dead"


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


def test_a_listener_dropped_mid_delta_does_not_make_the_next_one_miss_a_chunk():
    clock, pump = Clock(), Deadlines()
    (a_ours, a_theirs), (b_ours, b_theirs) = socket.socketpair(), socket.socketpair()
    with a_ours, a_theirs, b_ours, b_theirs:
        first = Outbox(pump, Pacer(), a_ours, encode_line, clock=clock)
        follower = Outbox(pump, Pacer(), b_ours, encode_line, clock=clock)
        stream = Stream(first.listener("r"), "p", "m", clock=clock)
        clock.now += 0.02
        stream.delta("a")
        assert stream.attach(follower.listener("follow"))
        # The first socket goes (a write failed, or its Connection is closing) just before the last chunk.
        first.close()
        clock.now += 0.02
        stream.delta("b")
        stream.finish("complete")
        received = available_lines(b_theirs, 4, timeout=1, between=pump.fire)
        assert received[-1]["type"] == "done" and received[-1]["stats"]["chunks"] == 2
        assert "".join(f["text"] for f in received if f["type"] == "delta") == "ab", received


def test_a_chunk_that_comes_while_a_flush_clears_the_flags_is_not_lost(loaded_line):
    line = loaded_line
    stream = line.stream()
    interrupted = []

    class Interrupted(Subscription):
        """Brings the provider's next chunk right after take() clears its first flag, as a thread switch could."""

        def __setattr__(self, name, value):
            """Set, then let the chunk in once, mid-take."""
            object.__setattr__(self, name, value)
            if value is False and interrupted == ["armed"] and sys._getframe(1).f_code.co_name == "take":
                interrupted.append(name)
                stream.delta("c")

    stream.listeners[0].__class__ = Interrupted
    stream.delta("a")
    stream.delta("b")
    line.clock.now = line.pump.asked[-1]
    line.pump.fire()
    # The turn has come and no chunk came for it: the pump writes, and "c" arrives while it takes the chunks.
    line.clock.now = line.pump.asked[-1]
    interrupted.append("armed")
    line.pump.fire()
    for text in "de":
        line.clock.now += 2.0
        stream.delta(text)
    stream.finish("complete")
    # start, "a", "bc", "d", "e", done
    frames = available_lines(line.theirs, 6)
    assert len(interrupted) == 2, "the chunk came mid-take"
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == "abcde"
    assert frames[-1]["type"] == "done" and delta_seqs(frames)[-1] == 5


def test_a_final_frame_held_up_by_a_slow_reader_is_not_paced_once_the_socket_drains(loaded_line):
    line = loaded_line
    line.ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    stream = line.stream()
    stream.delta("a")
    line.outbox.put({"type": "note", "request_id": "x", "text": "x" * 200_000})
    stream.finish("complete")
    assert line.outbox._unsent, "the reader is behind: the done frame waits"
    frames = available_lines(line.theirs, 3, between=lambda: line.outbox.put_bytes(b""))
    assert [f["type"] for f in frames] == ["start", "delta", "note"]
    # The retry the outbox asked for: the done frame leaves with it, not a chunk's turn later.
    line.clock.now += 0.01
    line.pump.fire()
    assert [f["type"] for f in available_lines(line.theirs, 1)] == ["done"]


# The chunk's thread adds chunks without the lock while every listener is queued (Stream.delta); these put a stop
# or a new listener at the moments a thread switch could.


class StoppingLog(list):
    """A stream's log that ends the stream, as a stop from another socket would, around the append of chunk `at`."""

    def __init__(self, stream, at, before):
        """Stop when the log reaches `at` chunks: just `before` the chunk goes in, or right after."""
        super().__init__()
        self.stream, self.at, self.before = stream, at, before

    def append(self, text):
        """Add the chunk, and stop the stream on the way."""
        if self.before and len(self) + 1 == self.at:
            self.stream.finish("stopped")
        super().append(text)
        if not self.before and len(self) == self.at:
            self.stream.finish("stopped")


@pytest.mark.parametrize("apart", [0.0, 1.0], ids=["chunks queued", "chunks written at once"])
@pytest.mark.parametrize("before", [False, True], ids=["stop after the append", "stop before the append"])
def test_a_stop_racing_a_chunk_either_includes_it_everywhere_or_nowhere(line, apart, before):
    stream = line.stream()
    stream.log = StoppingLog(stream, 3, before)
    for text in "ab":
        assert stream.delta(text)
        line.clock.now += apart
    assert stream.delta("c") is False, "the stream was stopped: the provider must stop"
    kept = "ab" if before else "abc"
    assert stream.length() == len(kept) and stream.stats()["chars"] == len(kept)
    frames = available_lines(line.theirs, 99, timeout=1)
    assert frames[-1]["type"] == "done" and frames[-1]["reason"] == "stopped"
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == kept
    assert delta_seqs(frames)[-1] == frames[-1]["stats"]["chunks"] == len(kept)
    assert frames[-1]["stats"]["ttft_ms"] is not None


def test_a_done_frames_stats_count_the_chunk_that_came_just_before_a_stop_ended_the_stream(line):
    class ChunkBeforeTheEnd(Stream):
        """Brings the provider's next chunk between a stop's start and the end it records, as a thread switch could."""

        def _end(self, status, error):
            """Add a chunk, then end."""
            self.delta("c")
            return super()._end(status, error)

    stream = ChunkBeforeTheEnd(line.outbox.listener("r"), "p", "m")
    assert stream.delta("a") and stream.delta("b")
    assert stream.finish("stopped")
    frames = available_lines(line.theirs, 99, timeout=1)
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == "abc"
    assert frames[-1]["type"] == "done" and delta_seqs(frames)[-1] == frames[-1]["stats"]["chunks"] == 3


def test_listeners_that_attach_while_a_fast_stream_runs_get_every_chunk_once_in_order():
    pump, pacer = Pump(), FixedPacer(0.002, late=0.001, handover=False)
    pairs = [socket.socketpair() for _ in range(6)]
    received = [bytearray() for _ in pairs]

    def drain(sock, into):
        """Read until the writer closes."""
        while chunk := sock.recv(1 << 16):
            into += chunk

    readers = [DaemonThread(target=drain, args=(theirs, into)) for (_, theirs), into in zip(pairs, received)]
    for reader in readers:
        reader.start()
    outboxes = [Outbox(pump, pacer, ours, encode_line) for ours, _ in pairs]
    stream = Stream(outboxes[0].listener("r0"), "p", "m")
    chunks = [f"{n} " for n in range(20_000)]

    def produce():
        """The provider's thread: as fast as it can, letting the test's thread in now and then."""
        for n, text in enumerate(chunks):
            assert stream.delta(text)
            if n % 500 == 0:
                time.sleep(0)
        stream.finish("complete")

    producer = DaemonThread(target=produce)
    producer.start()
    attached, deadline = 1, time.monotonic() + 30
    while producer.is_alive() and attached < len(outboxes) and time.monotonic() < deadline:
        if stream.length() >= attached * 3000:
            attached += stream.attach(outboxes[attached].listener(f"r{attached}"))
    producer.join(30)
    assert not producer.is_alive()
    assert attached > 2, "the stream ended before listeners could attach mid-way"
    time.sleep(0.2)
    for ours, _ in pairs:
        ours.shutdown(socket.SHUT_WR)
    for reader in readers:
        reader.join(10)
    for n, data in enumerate(received[:attached]):
        frames = [json.loads(line) for line in bytes(data).splitlines()]
        assert frames[-1]["type"] == "done", f"listener {n} got no final frame"
        assert "".join(f["text"] for f in frames if f["type"] == "delta") == "".join(chunks), f"listener {n}"
        delta_seqs(frames)


def read_to_the_end(sock, timeout=10):
    """Everything the socket delivers until its peer ends the connection (bounded in time)."""
    sock.settimeout(timeout)
    data, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return data
        data += chunk
    raise AssertionError("the connection did not end")


def test_a_reader_that_leaves_frames_waiting_past_the_bound_is_cut_off():
    # A client that asks and never reads: its answers pile up behind what the socket holds, until the bound.
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        outbox = Outbox(Deadlines(), Pacer(), ours, encode_line, max_bytes=1_000_000)
        frame = {"type": "error", "text": "x" * 10_000}
        taken = 0
        while taken < 1000 and outbox.put(frame):
            taken += 1
        # What the socket's buffers took, plus a million bytes waiting here; then nothing more is kept.
        assert 100 <= taken < 300
        assert outbox.put({"type": "error"}) is False
        assert not outbox._items and not outbox._unsent
        received = read_to_the_end(theirs).split(b"\n")
        assert len(received) < taken


def test_chunks_waiting_for_a_slow_reader_do_not_count_against_the_bound(line):
    line.outbox.max_bytes = 10_000
    stream = line.stream()
    for n in range(100):
        assert stream.delta(f"{n:04d}" * 2500)
    stream.finish("complete")
    frames = available_lines(line.theirs, 3, between=line.pump.fire)
    assert frames[-1]["type"] == "done"
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == "".join(f"{n:04d}" * 2500 for n in range(100))


def test_the_close_frame_leaves_after_every_frame_queued_and_nothing_after_it():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        pump = Deadlines()
        outbox = Outbox(pump, Pacer(), ours, encode_line)
        outbox.put({"n": 0, "text": "x" * 100_000})
        assert outbox._unsent, "the reader is behind: what follows waits"
        outbox.put({"n": 1})
        outbox.end(lambda: b'{"n": "close"}\n')
        assert outbox.put({"n": 2}) is False
        received = available_lines(theirs, 3, between=pump.fire)
        assert [f["n"] for f in received] == [0, 1, "close"]
        # Nothing can follow it: the connection is closed for writing once it has left.
        assert read_to_the_end(theirs) == b""


def test_a_ping_written_while_the_close_frame_is_made_does_not_end_the_connection_before_it(line):
    line.outbox.put({"n": 0})
    line.read(1)
    line.outbox._lock = SchedulingLock()
    # The library's ping comes after the close frame's turn is taken (release 1: put, 2: taking the items), before
    # its bytes are added.
    line.outbox._lock.countdown, line.outbox._lock.then = 2, lambda: line.outbox.put_bytes(b'{"n": "ping"}\n')
    line.outbox.end(lambda: b'{"n": "close"}\n')
    assert [f["n"] for f in available_lines(line.theirs, 2)] == ["ping", "close"]
    assert read_to_the_end(line.theirs) == b""
