"""Cursors of an answer: late ones, another worker's and ones racing a stop get every chunk once, in order."""
import time

import pytest

from conftest import DaemonThread, delta_seqs
from test_writer import Line, line, text_of  # noqa: F401 (a fixture)
from test_writer_slow_readers import app_config  # noqa: F401 (a fixture)
from webui.chat.answer import Answer, Cursor
from webui.chat.remote_answer import RemoteAnswer


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
