"""The writer and the in-flight answer: every chunk once and in order, then one final frame; chunks that pile up
leave as one frame; a reader that stops reading holds up only itself."""
import json
import re
import socket
import threading
import time

import pytest

from bench import frames as wire
from conftest import DaemonThread, chat, delta_seqs, raw_handshake
from webui.chat.answer import FRAME_CHARS, Answer, Cursor
from webui.chat.remote_answer import RemoteAnswer
from webui.chat.writer import FRAMES_PER_TURN, MIN_GAP_SECONDS, WINDOW_SECONDS, WRITES_PER_SECOND, Pacer, Writer, frame_text


FINAL = re.compile(rb'^\{"type": "(done|error)".*\n', re.MULTILINE)


def encode_line(text):
    """One JSON frame per line: the tests read frames back without a WebSocket parser."""
    return text.encode() + b"\n"


def lines(sock, want, timeout=5.0):
    """The whole frames that arrive within `timeout`, stopping at `want` of them, after a final frame, or when the
    writer ends the stream."""
    sock.settimeout(0.05)
    data, deadline = b"", time.monotonic() + timeout
    while data.count(b"\n") < want and time.monotonic() < deadline and not FINAL.search(data):
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            continue
        if not chunk:
            break
        data += chunk
    return [json.loads(line) for line in data.split(b"\n")[:-1]]


def text_of(frames):
    """The text of the delta frames, joined."""
    return "".join(f["text"] for f in frames if f["type"] == "delta")


class Line:
    """A writer on one end of a socket pair; `theirs` is the reading end."""

    def __init__(self, **options):
        """Open the pair and start the writer (`options` as for Writer)."""
        self.ours, self.theirs = socket.socketpair()
        self.writer = Writer(self.ours, encode_line, Pacer(), **options)

    def answer(self, request_id="r"):
        """A plain answer read through this writer."""
        return Answer(Cursor(self.writer, request_id), "p", "m")

    def read(self, want, timeout=5.0):
        """The next frames."""
        return lines(self.theirs, want, timeout)

    def close(self):
        """Stop the writer and close both ends."""
        self.writer.close()
        self.ours.close()
        self.theirs.close()


@pytest.fixture
def line():
    """A Line with the default options."""
    opened = Line()
    yield opened
    opened.close()


def test_chunks_apart_leave_one_frame_each_then_the_final_frame(line):
    answer = line.answer()
    for text in "abc":
        assert answer.delta(text)
        time.sleep(0.02)
    assert answer.finish("complete")
    frames = line.read(5)
    assert frames[:4] == [
        {"type": "start", "request_id": "r", "provider": "p", "model": "m", "context": None},
        {"type": "delta", "request_id": "r", "seq": 1, "text": "a"},
        {"type": "delta", "request_id": "r", "seq": 2, "text": "b"},
        {"type": "delta", "request_id": "r", "seq": 3, "text": "c"},
    ]
    assert frames[4]["type"] == "done" and frames[4]["reason"] == "complete"
    assert {key: frames[4]["stats"][key] for key in ("chunks", "chars")} == {"chunks": 3, "chars": 3}


def all_at_once(line, chunks, late=False):
    """Add every chunk to an answer at once, end it, and read its frames back: (all frames, the delta frames).
    `late`: the line's cursor attaches once every chunk is in, as for a resume, so the writer (a thread here) cannot
    take the first chunks alone while the rest are being added."""
    answer = Answer(Cursor(Unqueued(), "other"), "p", "m") if late else line.answer()
    for text in chunks:
        answer.delta(text)
    if late:
        answer.attach(Cursor(line.writer, "r"))
    answer.finish("complete")
    frames = line.read(len(chunks) + 2)
    assert frames[-1]["type"] == "done" and text_of(frames) == "".join(chunks)
    return frames, [f for f in frames if f["type"] == "delta"]


def test_chunks_that_pile_up_leave_together_with_their_text_unchanged(line):
    chunks = [f"{n} " for n in range(5000)]
    frames, deltas = all_at_once(line, chunks)
    assert len(deltas) < len(chunks) / 10
    assert delta_seqs(frames)[-1] == len(chunks)


def test_a_backlog_leaves_in_frames_of_about_frame_chars(line):
    chunks = [f"{n:07d} " for n in range(20_000)]
    _, deltas = all_at_once(line, chunks)
    assert all(len(f["text"]) < FRAME_CHARS + 8 for f in deltas)
    assert len(deltas) >= len("".join(chunks)) // (FRAME_CHARS + 8)


def cut_at_frame_chars(chunks):
    """(seq, text) of the delta frames a backlog of `chunks` leaves in: each frame ends with the chunk that brings it
    to FRAME_CHARS characters, or with the last chunk."""
    frames, text, seq = [], "", 0
    for chunk in chunks:
        text, seq = text + chunk, seq + 1
        if len(text) >= FRAME_CHARS:
            frames.append((seq, text))
            text = ""
    return frames + ([(seq, text)] if text else [])


@pytest.mark.parametrize(
    "chunks",
    [
        [f"{n:07d} " for n in range(20_000)],
        ["x" * 3 * FRAME_CHARS, "y", "z" * FRAME_CHARS, "w" * (FRAME_CHARS - 1), "v", "u"],
        [("é" * 40_000 if n % 97 == 0 else f"{n}·") for n in range(3_000)],
        ["x" * (1 + n * 7919 % 300) for n in range(20_000)],
        ["only one"],
    ],
    ids=["small chunks", "chunks of a frame and more", "mixed", "lengths that vary", "one chunk"],
)
def test_a_backlog_is_cut_where_a_frame_reaches_frame_chars(line, chunks):
    _, deltas = all_at_once(line, chunks, late=True)
    assert [(f["seq"], f["text"]) for f in deltas] == cut_at_frame_chars(chunks)


class Unqueued:
    """A cursor's writer that only marks it queued, for tests that take its frames themselves."""

    def wake(self, cursor):
        """Mark it queued."""
        cursor.queued = True


def test_a_backlog_taken_a_turn_at_a_time_is_cut_as_in_one_take():
    chunks = [("x" * 900 if n % 1000 == 0 else f"{n:07d} ") for n in range(100_000)]
    cursor = Cursor(Unqueued(), "r")
    answer = Answer(cursor, "p", "m")
    for text in chunks:
        answer.delta(text)
    frames, more, turns = [], True, 0
    while more:
        taken, more = cursor.take(FRAMES_PER_TURN)
        frames, turns = frames + taken, turns + 1
    assert turns > 1
    assert [(f["seq"], f["text"]) for f in frames[1:]] == cut_at_frame_chars(chunks)


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "delta", "request_id": "r-1", "seq": 3, "text": "plain"},
        {"type": "delta", "request_id": 17, "seq": 1, "text": ""},
        {"type": "delta", "request_id": 'a "quoted" \\ id', "seq": 9, "text": 'é ☃ \n\t "q" \\ \u2028 \x00'},
        {"type": "delta", "request_id": "r", "seq": 2, "text": "half of a pair: \ud83d"},
        {"type": "done", "request_id": "r", "reason": "complete", "stats": {"chunks": 2}},
    ],
    ids=["text", "number id", "escapes", "lone surrogate", "not a delta"],
)
def test_a_frame_is_written_as_json_dumps_writes_it(frame):
    assert frame_text(frame) == json.dumps(frame, ensure_ascii=False)


class LongGaps(Pacer):
    """A pacer that rests each writer half a minute after it writes chunks: anything that waits out a gap misses the
    test's reads."""

    def wrote(self, writer):
        """The gap after a write."""
        return 30.0


class FinalLater(Answer):
    """An answer whose final frame is sent later than it ends, as a stored answer's is once its end is written."""

    def _send_final(self, kind, **fields):
        """Keep the final frame back."""
        self.kept = kind


def test_what_is_left_of_an_answer_that_ended_leaves_at_once_before_its_final_frame():
    ours, theirs = socket.socketpair()
    writer = Writer(ours, encode_line, LongGaps())
    try:
        answer = FinalLater(Cursor(writer, "r"), "p", "m")
        answer.delta("a")
        assert text_of(lines(theirs, 2)) == "a"
        answer.delta("b")
        assert lines(theirs, 1, timeout=0.3) == []
        assert answer.finish("complete") and answer.kept == "done"
        assert lines(theirs, 1) == [{"type": "delta", "request_id": "r", "seq": 2, "text": "b"}]
    finally:
        writer.close()
        ours.close()
        theirs.close()


def test_the_gap_grows_with_the_number_of_writing_sockets_and_goes_when_they_stop():
    clock = [10.0]
    pacer = Pacer(clock=lambda: clock[0])
    for n in range(500):
        assert pacer.wrote(n) == MIN_GAP_SECONDS
    clock[0] += WINDOW_SECONDS
    assert pacer.wrote(0) == 500 / WRITES_PER_SECOND
    clock[0] += 3 * WINDOW_SECONDS
    assert pacer.wrote(0) == MIN_GAP_SECONDS


def test_a_late_cursor_gets_what_it_missed_in_one_frame_then_the_live_chunks(line):
    answer = line.answer("first")
    for n in range(5):
        answer.delta(f"{n} ")
    assert answer.attach(Cursor(line.writer, "late", sent=2))
    time.sleep(0.05)
    answer.delta("5 ")
    answer.finish("complete")
    late = [f for f in line.read(20) if f["request_id"] == "late"]
    assert late[:2] == [
        {"type": "start", "request_id": "late", "provider": "p", "model": "m", "context": None},
        {"type": "delta", "request_id": "late", "seq": 5, "text": "2 3 4 "},
    ]
    assert text_of(late) == "2 3 4 5 " and late[-1]["type"] == "done"


def test_an_answer_that_ended_takes_no_cursor_and_no_chunk(line):
    answer = line.answer()
    answer.delta("a")
    answer.finish("stopped")
    assert answer.delta("b") is False
    assert answer.attach(Cursor(line.writer, "late")) is False
    frames = line.read(3)
    assert [f["type"] for f in frames] == ["start", "delta", "done"] and text_of(frames) == "a"


def chunk_entry(key, seq, chunks, run="run1"):
    """A chunk entry of another worker's stream, as the answer reader hands it over: (its id, the entry)."""
    return (key, 0), {"run": run, "seq": seq, "at": 0, "chunks": chunks, "final": None}


def followed(app, line, sent):
    """A RemoteAnswer of the run "run1", read through `line` by a cursor that has had `sent` chunks."""
    with app.test_request_context():
        start = {"type": "start", "provider": "p", "model": "m", "context": None, "message_id": "m1"}
        return RemoteAnswer(Cursor(line.writer, "r", sent=sent), start, "m1", "run1", None, (0, 0))


def test_another_workers_chunks_reach_a_cursor_once_each_in_order_then_its_final_frame(app, line):
    remote = followed(app, line, sent=2)
    remote.read([chunk_entry(1, 0, ["a", "b", "c"]), chunk_entry(2, 3, ["d"])])
    # An entry read again, one that overlaps what came, and one of another run: only "e" is new.
    remote.read([chunk_entry(2, 3, ["d"]), chunk_entry(3, 3, ["d", "e"]), chunk_entry(4, 5, ["x"], run="run0")])
    remote.read([((5, 0), {"run": "run1", "seq": 5, "at": 0, "chunks": None, "final": {"type": "done", "reason": "complete"}})])
    frames = line.read(10)
    assert frames[0] == {"type": "start", "request_id": "r", "provider": "p", "model": "m", "context": None, "message_id": "m1"}
    assert text_of(frames) == "cde" and delta_seqs(frames)[-1] == 5
    assert frames[-1] == {"type": "done", "request_id": "r", "reason": "complete"}


def test_chunks_another_workers_stream_lost_end_the_cursor_with_shared_unavailable(app, line):
    remote = followed(app, line, sent=2)
    remote.read([chunk_entry(1, 2, ["c"]), chunk_entry(2, 5, ["f"])])
    frames = line.read(10)
    assert text_of(frames) == "c"
    assert (frames[-1]["type"], frames[-1]["code"]) == ("error", "shared_unavailable")
    assert remote.delta("g") is False


def test_a_plain_answer_stops_when_its_last_cursor_goes(line):
    cursor = Cursor(line.writer, "r")
    answer = Answer(cursor, "p", "m")
    assert answer.delta("a")
    answer.detach(cursor)
    assert answer.finished and answer.delta("b") is False


def test_a_closed_writer_takes_nothing(line):
    line.writer.close()
    assert line.writer.put({"type": "error"}) is False
    answer = line.answer()
    assert answer.delta("a")
    line.theirs.setblocking(False)
    with pytest.raises(BlockingIOError):
        line.theirs.recv(100)


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


def test_the_close_frame_leaves_after_every_frame_queued_and_nothing_after_it(line):
    line.ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    line.writer.put({"n": 0, "text": "x" * 100_000})
    line.writer.put({"n": 1})
    line.writer.end(lambda: b'{"n": "close"}\n')
    assert line.writer.put({"n": 2}) is False
    line.writer.put_bytes(b'{"n": "pong"}\n')
    assert [f["n"] for f in line.read(10)] == [0, 1, "close"]
    # Nothing can follow it: the connection is closed for writing once it has left.
    assert line.theirs.recv(100) == b""


@pytest.mark.parametrize("round_", range(3))
def test_a_stop_racing_the_chunks_ends_every_cursor_with_the_same_text_and_count(line, round_):
    answer = line.answer()
    follower = Line()
    try:
        assert answer.attach(Cursor(follower.writer, "f"))
        produced = []

        def produce():
            """The provider's thread: chunks as fast as it can until the answer stops."""
            for n in range(200_000):
                if not answer.delta(f"{n} "):
                    return
                produced.append(n)

        producer = DaemonThread(target=produce)
        producer.start()
        time.sleep(0.01 * (round_ + 1))
        assert answer.finish("stopped")
        producer.join(10)
        for frames in (line.read(10**6, timeout=3), follower.read(10**6, timeout=3)):
            done = frames[-1]
            assert done["type"] == "done" and done["reason"] == "stopped"
            assert text_of(frames) == "".join(f"{n} " for n in produced)
            assert delta_seqs(frames)[-1] == done["stats"]["chunks"] == len(produced)
    finally:
        follower.close()


def test_cursors_that_attach_while_a_fast_answer_runs_get_every_chunk_once_in_order():
    lines_ = [Line() for _ in range(6)]
    try:
        answer = lines_[0].answer("r0")
        chunks = [f"{n} " for n in range(20_000)]

        def produce():
            """The provider's thread: as fast as it can, letting the test's thread in now and then."""
            for n, text in enumerate(chunks):
                assert answer.delta(text)
                if n % 500 == 0:
                    time.sleep(0)
            answer.finish("complete")

        producer = DaemonThread(target=produce)
        producer.start()
        attached, deadline = 1, time.monotonic() + 30
        while producer.is_alive() and attached < len(lines_) and time.monotonic() < deadline:
            if len(answer.log) >= attached * 3000:
                attached += answer.attach(Cursor(lines_[attached].writer, f"r{attached}"))
        producer.join(30)
        assert attached > 2, "the answer ended before cursors could attach mid-way"
        for n, opened in enumerate(lines_[:attached]):
            frames = opened.read(10**6, timeout=3)
            assert frames[-1]["type"] == "done", f"cursor {n} got no final frame"
            assert text_of(frames) == "".join(chunks), f"cursor {n}"
            delta_seqs(frames)
    finally:
        for opened in lines_:
            opened.close()


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
