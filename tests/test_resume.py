"""Resuming stored answers over real WebSockets: after a dropped socket, from a second socket, and once they are over."""
import time

import pytest

from conftest import delta_seqs, turn
from webui.chat.connection import RESUMES_PER_MINUTE
from webui.chat.replay import PIECE_CHARS


def text_of(frames):
    """Concatenate the delta frames' text."""
    return "".join(f["text"] for f in frames if f["type"] == "delta")


def deltas(ws, request_id, seq):
    """Receive a request's frames (its start, if it comes, and deltas only) until chunk `seq` has arrived."""
    frames = []
    while not any(f["type"] == "delta" and f["seq"] >= seq for f in frames):
        frame = ws.recv()
        assert frame["request_id"] == request_id and frame["type"] in ("start", "delta"), frame
        frames.append(frame)
    delta_seqs(frames)
    return frames


def stored(visitor, conversation_id):
    """The last message of the conversation's active branch, as the API shows it."""
    return visitor.http.get(f"/api/conversations/{conversation_id}").json["messages"][-1]


def test_a_dropped_socket_resumes_with_no_gap_and_no_duplicate(visitor):
    first = visitor.connect()
    first.send(turn("r1", model="slow", content="go"))
    before = deltas(first, "r1", 5)
    start = before[0]
    first.close()
    time.sleep(0.3)  # chunks keep coming while nobody listens

    second = visitor.connect()
    second.send({"type": "resume", "request_id": "again", "message_id": start["message_id"], "after": before[-1]["seq"]})
    after = deltas(second, "again", before[-1]["seq"] + 20)
    assert after[0] == {**start, "request_id": "again"}
    # The chunks written while nobody listened come back as one frame, starting right after the last one seen.
    assert after[1]["seq"] > before[-1]["seq"] + 1
    assert after[1]["text"].startswith(f"tick{before[-1]['seq']} ")
    second.send({"type": "stop", "request_id": "again"})
    after += second.until_final("again")
    assert after[-1]["type"] == "done" and after[-1]["reason"] == "stopped"
    answer = stored(visitor, start["conversation_id"])
    assert answer["status"] == "stopped"
    assert text_of(before) + text_of(after) == answer["content"]
    assert answer["content"].split() == [f"tick{n}" for n in range(len(answer["content"].split()))]


def test_an_answer_keeps_being_written_when_its_socket_closes(visitor):
    ws = visitor.connect()
    ws.send(turn("r1", model="slow", content="go"))
    start = deltas(ws, "r1", 1)[0]
    ws.close()
    deadline = time.monotonic() + 5
    lengths = []
    while time.monotonic() < deadline and len(set(lengths)) < 3:
        answer = stored(visitor, start["conversation_id"])
        lengths.append(len(answer["content"]))
        time.sleep(0.2)
    assert answer["status"] == "streaming"
    assert len(set(lengths)) >= 3 and lengths == sorted(lengths), "the stored text did not grow every 0.5 s"


def test_two_sockets_follow_one_answer_and_either_can_stop_it(visitor):
    one, two = visitor.connect(), visitor.connect()
    one.send(turn("r1", model="slow", content="go"))
    start = deltas(one, "r1", 3)[0]
    two.send({"type": "resume", "request_id": "watch", "message_id": start["message_id"], "after": 0})
    watched = deltas(two, "watch", 6)
    assert text_of(watched).startswith("tick0 tick1 tick2 tick3 tick4 tick5 ")
    two.send({"type": "stop", "request_id": "watch"})
    ones, twos = one.until_final("r1"), two.until_final("watch")
    assert ones[-1]["reason"] == twos[-1]["reason"] == "stopped"
    content = stored(visitor, start["conversation_id"])["content"]
    assert text_of(watched) + text_of(twos) == content
    assert content.startswith("tick0 tick1 tick2 ") and content.endswith(ones[-2]["text"])


def replayed(ws, request_id):
    """The frames of a resume of an answer that is over: (its start, its stored text, its final frame)."""
    frames = ws.until_final(request_id)
    start, deltas, final = frames[0], frames[1:-1], frames[-1]
    assert start["type"] == "start" and start["replay"] is True
    assert all(f["type"] == "delta" for f in deltas)
    assert [f["seq"] for f in deltas] == list(range(1, len(deltas) + 1))
    assert all(len(f["text"]) <= PIECE_CHARS for f in deltas)
    return start, text_of(deltas), final


def test_resuming_a_finished_answer_gives_its_stored_text(visitor):
    ws = visitor.connect()
    ws.send(turn("r1", content="all of it"))
    start = ws.until_final("r1")[0]
    ws.send({"type": "resume", "request_id": "late", "message_id": start["message_id"], "after": 1})
    again, text, final = replayed(ws, "late")
    assert again == {**start, "request_id": "late", "replay": True}
    assert text == "all of it "
    assert final == {"type": "done", "request_id": "late", "message_id": start["message_id"], "reason": "complete"}


def test_resuming_a_failed_answer_gives_its_error(visitor):
    ws = visitor.connect()
    ws.send(turn("r1", model="fail_midway", content="x"))
    start = ws.until_final("r1")[0]
    ws.send({"type": "resume", "request_id": "late", "message_id": start["message_id"]})
    _start, text, final = replayed(ws, "late")
    assert (final["type"], final["reason"], final["code"]) == ("error", "error", "provider_error")
    assert text == "partial answer " and "upstream went away" in final["message"] and "content" not in final


def imported_answer(visitor, text):
    """Import a conversation whose answer is `text`; returns the answer's message id."""
    created = visitor.http.post("/api/conversations/import", json=[{"role": "user", "content": "q"}, {"role": "assistant", "content": text}])
    assert created.status_code == 201, created.json
    return visitor.http.get(f"/api/conversations/{created.json['id']}").json["messages"][-1]["id"]


def test_a_long_stored_answer_comes_back_whole_in_bounded_frames(visitor):
    text = "".join(f"{n:06d} ж🙂 $x^2$\n" for n in range(30_000))
    message_id = imported_answer(visitor, text)
    ws = visitor.connect()
    ws.send({"type": "resume", "request_id": "long", "message_id": message_id, "after": 12})
    start, replayed_text, final = replayed(ws, "long")
    assert replayed_text == text
    assert (start["message_id"], final["reason"], "content" in final) == (message_id, "complete", False)


def test_resumes_are_limited_per_socket(visitor):
    message_id = imported_answer(visitor, "short")
    ws = visitor.connect()
    for n in range(RESUMES_PER_MINUTE):
        ws.send({"type": "resume", "request_id": n, "message_id": message_id})
        assert replayed(ws, n)[1] == "short"
    ws.send({"type": "resume", "request_id": "more", "message_id": message_id})
    refused = ws.recv()
    assert (refused["type"], refused["request_id"], refused["code"]) == ("error", "more", "rate_limited")
    other = visitor.connect()
    other.send({"type": "resume", "request_id": "elsewhere", "message_id": message_id})
    assert replayed(other, "elsewhere")[1] == "short"


def test_resuming_an_unknown_message_is_not_found(visitor):
    ws = visitor.connect()
    ws.send({"type": "resume", "request_id": "x", "message_id": "no-such-message", "after": 0})
    error = ws.recv()
    assert (error["type"], error["code"], error["request_id"]) == ("error", "not_found", "x")


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "resume", "message_id": "abc"},
        {"type": "resume", "request_id": "x"},
        {"type": "resume", "request_id": "x", "message_id": "abc", "after": -1},
        {"type": "resume", "request_id": "x", "message_id": "abc", "after": True},
        {"type": "resume", "request_id": "x", "message_id": "../../etc"},
    ],
)
def test_bad_resume_frames_are_refused(visitor, frame):
    ws = visitor.connect()
    ws.send(frame)
    error = ws.recv()
    assert error["type"] == "error" and error["code"] == "bad_request"


def test_a_resume_past_the_chunks_made_is_refused_and_the_answer_goes_on(visitor):
    """A cursor placed past the answer's chunks once made its writer spin for good when the answer ended (one frame
    froze a gevent server for every user): the page cannot have chunks the answer has not made."""
    first = visitor.connect()
    first.send(turn("r1", model="slow", content="go"))
    start = deltas(first, "r1", 2)[0]
    second = visitor.connect()
    second.send({"type": "resume", "request_id": "ahead", "message_id": start["message_id"], "after": 10**6})
    refused = second.recv()
    assert (refused["type"], refused["request_id"], refused["code"]) == ("error", "ahead", "bad_request")
    assert "after" in refused["message"]
    second.send({"type": "resume", "request_id": "behind", "message_id": start["message_id"], "after": 1})
    followed = [second.recv() for _ in range(2)]
    assert [frame["type"] for frame in followed] == ["start", "delta"] and followed[1]["seq"] >= 2
    while (frame := first.recv())["type"] == "delta":
        pass
    assert (frame["type"], frame["reason"]) == ("done", "complete")
    while (frame := second.recv())["type"] == "delta":
        pass
    assert (frame["type"], frame["request_id"], frame["reason"]) == ("done", "behind", "complete")


def test_text_shown_before_a_provider_stalls_is_saved_within_half_a_second(visitor):
    ws = visitor.connect()
    ws.send(turn("stall", content="wait for it", model="stall"))
    start = ws.recv()
    assert ws.recv()["text"] == "first "
    deadline = time.monotonic() + 0.5 + 0.3
    stored = None
    while time.monotonic() < deadline:
        messages = visitor.http.get(f"/api/conversations/{start['conversation_id']}").get_json()["messages"]
        stored = messages[-1]
        if stored["content"]:
            break
        time.sleep(0.05)
    assert stored["content"] == "first " and stored["status"] == "streaming"
