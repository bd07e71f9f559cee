"""Two `webui serve` processes sharing one data folder (SQLite, or one PostgreSQL database) and one redis-server: an
answer that runs on one is resumed and stopped from the other, with no gap and no duplicate, and only by its owner."""
import time

import pytest
import redis
from simple_websocket import Client

from conftest import DaemonThread, ServerProcess, Socket, delta_seqs, turn
from test_cli import server_command
from test_conversation_restart import get_json, owner_cookie
from webui.shared.answer_log import STOP_READ_SECONDS

pytestmark = pytest.mark.both_databases

# Counts "tick0 tick1 …" every 20 ms, `max_tokens` of them (2000 by default), or sends as many emoji in halves; its
# `finally` writes the file named by WEBUI_TEST_CLOSED, so the test can tell when the worker closed its generator.
TICKING = '''
import os
import signal
import time
from pathlib import Path

url, model = "http://127.0.0.1/ticking", ["ticking", "halves"]
supports_stream, needs_auth = True, False


def _create_completion(model, messages, stream, **kwargs):
    try:
        for n in range(kwargs.get("max_tokens", 2000)):
            # "halves" cuts an emoji in two, as a provider may: each chunk holds one half of a surrogate pair.
            yield from ("\\ud83d", "\\ude00") if model == "halves" else (f"tick{n} ",)
            time.sleep(0.02)
    finally:
        with open(os.environ["WEBUI_TEST_CLOSED"], "a") as marker:
            marker.write("closed\\n")
'''


@pytest.fixture
def workers(tmp_path, providers_dir, redis_server, database_url):
    """Two servers on one data folder (and database) and one Redis: (A, B, the file the provider writes when it is
    closed)."""
    (providers_dir / "ticking.py").write_text(TICKING)
    closed = tmp_path / "closed"
    database = {"WEBUI_DATABASE_URL": database_url} if database_url else {}
    command, env = server_command(tmp_path / "data", providers_dir, "serve", WEBUI_REDIS_URL=redis_server.url,
                                  WEBUI_TEST_CLOSED=str(closed), **database)
    started = []
    try:
        for _ in range(2):
            started.append(ServerProcess(command, env=env))
        yield started[0], started[1], closed
    finally:
        for server in started:
            server.stop()


def connect(server, cookie):
    """A WebSocket to `server` as the browser with `cookie`."""
    ws_url = server.url.replace("http", "ws", 1) + "/ws"
    return Socket(Client.connect(ws_url, headers={"Cookie": cookie}, thread_class=DaemonThread))


def ticking(request_id, model="ticking", **options):
    """A chat frame of a new stored conversation answered by the ticking provider."""
    return {**turn(request_id, content="go", model=model, options=options), "provider": "ticking"}


def deltas(ws, request_id, seq):
    """The request's frames (its start and deltas) until chunk `seq` has come."""
    frames = []
    deadline = time.monotonic() + 20
    while not any(f["type"] == "delta" and f["seq"] >= seq for f in frames):
        assert time.monotonic() < deadline, frames
        frame = ws.recv()
        assert frame["request_id"] == request_id and frame["type"] in ("start", "delta"), frame
        frames.append(frame)
    delta_seqs(frames)
    return frames


def begin(server, cookie, seq, **options):
    """Start a ticking answer on `server` as the browser with `cookie`: (the socket, its frames up to chunk `seq`)."""
    ws = connect(server, cookie)
    ws.send(ticking("r1", **options))
    return ws, deltas(ws, "r1", seq)


def text_of(frames):
    """The delta frames' text, joined."""
    return "".join(f["text"] for f in frames if f["type"] == "delta")


def stored(server, cookie, conversation_id):
    """The conversation's last message, as the API of `server` shows it."""
    return get_json(f"{server.url}/api/conversations/{conversation_id}", cookie)["messages"][-1]


def resume(ws, request_id, message_id, after):
    """Send a resume frame."""
    ws.send({"type": "resume", "request_id": request_id, "message_id": message_id, "after": after})


def wait_for(path, seconds):
    """Whether the file exists within `seconds`."""
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return path.exists()


def test_an_answer_resumes_on_the_other_worker_and_stops_from_there(workers):
    a, b, closed = workers
    cookie = owner_cookie(a.url)
    first, before = begin(a, cookie, 5)
    start = before[0]
    first.close()
    time.sleep(0.3)  # chunks go on while nobody listens

    second = connect(b, cookie)
    resume(second, "again", start["message_id"], before[-1]["seq"])
    after = deltas(second, "again", before[-1]["seq"] + 20)
    assert after[0] == {**start, "request_id": "again"}
    assert after[1]["text"].startswith(f"tick{before[-1]['seq']} ")
    assert not closed.exists()
    second.send({"type": "stop", "request_id": "again"})
    stopped_at = time.monotonic()
    after += second.until_final("again")
    assert wait_for(closed, 2.0), "worker A did not close the provider's generator within 2 s"
    assert time.monotonic() - stopped_at < 2.0
    assert [f["type"] for f in after].count("done") == 1
    assert after[-1]["type"] == "done" and after[-1]["reason"] == "stopped"
    delta_seqs(after)
    answer = stored(b, cookie, start["conversation_id"])
    assert answer["status"] == "stopped"
    assert text_of(before) + text_of(after) == answer["content"]
    assert answer["content"].split() == [f"tick{n}" for n in range(len(answer["content"].split()))]


def test_a_worker_reads_the_stop_markers_a_few_times_a_second_not_at_every_round(workers, redis_server):
    a, _, _ = workers
    ws, frames = begin(a, owner_cookie(a.url), 3)
    client = redis.Redis.from_url(redis_server.url)
    client.config_resetstat()
    counted_from = time.monotonic()
    frames += deltas(ws, "r1", frames[-1]["seq"] + 50)  # a second of chunks, each published within a round or two
    reads = client.info("commandstats").get("cmdstat_mget", {"calls": 0})["calls"]
    assert 0 < reads <= (time.monotonic() - counted_from) / STOP_READ_SECONDS + 2, reads
    ws.send({"type": "stop", "request_id": "r1"})
    assert ws.until_final("r1")[-1]["reason"] == "stopped"


def test_a_resume_from_the_start_on_the_other_worker_gets_the_whole_answer_once(workers):
    a, b, _ = workers
    cookie = owner_cookie(a.url)
    ws, ran = begin(a, cookie, 3, max_tokens=60)
    start = ran[0]
    follower = connect(b, cookie)
    resume(follower, "watch", start["message_id"], 0)
    followed = follower.until_final("watch")
    ran += ws.until_final("r1")
    assert followed[0] == {**start, "request_id": "watch"}
    assert text_of(followed) == text_of(ran) == "".join(f"tick{n} " for n in range(60))
    delta_seqs(followed)
    assert followed[-1]["type"] == "done" and followed[-1]["reason"] == "complete"
    assert followed[-1]["stats"]["chunks"] == 60


def test_someone_elses_message_is_not_found_on_the_other_worker(workers):
    a, b, _ = workers
    owner, stranger = owner_cookie(a.url), owner_cookie(b.url)
    ws, frames = begin(a, owner, 2)
    start = frames[0]
    other = connect(b, stranger)
    resume(other, "peek", start["message_id"], 0)
    frames = other.until_final("peek")
    assert [(f["type"], f.get("code")) for f in frames] == [("error", "not_found")]
    ws.send({"type": "stop", "request_id": "r1"})
    assert ws.until_final("r1")[-1]["reason"] == "stopped"


def test_an_emoji_cut_in_two_between_chunks_crosses_workers_whole(workers):
    a, b, _ = workers
    cookie = owner_cookie(a.url)
    ws = connect(a, cookie)
    ws.send(ticking("r1", model="halves", max_tokens=20))
    ran = deltas(ws, "r1", 2)
    follower = connect(b, cookie)
    resume(follower, "watch", ran[0]["message_id"], 1)
    followed = follower.until_final("watch")
    ran += ws.until_final("r1")
    assert text_of(ran) == "\U0001f600" * 20
    assert text_of(followed) == "\ude00" + "\U0001f600" * 19, followed  # after the first half
    assert followed[-1]["reason"] == "complete"


def test_a_continued_answer_is_followed_on_the_other_worker_from_its_own_run(workers):
    a, b, _ = workers
    cookie = owner_cookie(a.url)
    ws, first = begin(a, cookie, 1, max_tokens=5)
    first += ws.until_final("r1")
    start = first[0]
    ws.send({**turn("r2", start["conversation_id"], model="ticking", action="continue", message_id=start["message_id"],
                    options={"max_tokens": 50}), "provider": "ticking"})
    going = deltas(ws, "r2", 3)
    follower = connect(b, cookie)
    resume(follower, "watch", start["message_id"], 0)
    followed = follower.until_final("watch")
    going += ws.until_final("r2")
    # Only the continue's own chunks, counted from 1 again, as the socket that sent it got them.
    assert text_of(followed) == text_of(going) == "".join(f"tick{n} " for n in range(50))
    assert followed[-1]["reason"] == "complete"
    answer = stored(b, cookie, start["conversation_id"])
    assert answer["content"] == text_of(first) + text_of(going)


def test_a_resume_past_the_chunks_made_is_refused_on_the_other_worker_too(workers):
    a, b, _ = workers
    owner = owner_cookie(a.url)
    ws, frames = begin(a, owner, 2)
    message_id = frames[0]["message_id"]
    other = connect(b, owner)
    resume(other, "ahead", message_id, 100_000)
    refused = other.until_final("ahead", timeout=10)
    assert [(f["type"], f.get("code")) for f in refused] == [("error", "bad_request")]
    assert "resume from 0" in refused[0]["message"]
    # A place the answer has reached is followed as before.
    resume(other, "behind", message_id, 1)
    assert deltas(other, "behind", 4)[0]["type"] == "start"
    ws.send({"type": "stop", "request_id": "r1"})
    assert ws.until_final("r1")[-1]["reason"] == "stopped"
