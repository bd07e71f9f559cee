"""The writer and the in-flight answer: every chunk once, in order, then one final frame; a backlog leaves as one."""
import json
import re
import socket
import time

import pytest

from conftest import delta_seqs
from webui.chat.answer import FRAME_CHARS, Answer, Cursor
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


def test_a_closed_writer_takes_nothing(line):
    line.writer.close()
    assert line.writer.put({"type": "error"}) is False
    answer = line.answer()
    assert answer.delta("a")
    line.theirs.setblocking(False)
    with pytest.raises(BlockingIOError):
        line.theirs.recv(100)


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
