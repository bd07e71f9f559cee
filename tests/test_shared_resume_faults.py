"""Resuming on the other worker through trouble: Redis restarts mid-answer, the stream is trimmed, the worker dies."""
import os
import signal
import time
from pathlib import Path

import pytest
import redis

from conftest import delta_seqs
from test_conversation_restart import owner_cookie
from test_shared_resume import begin, connect, deltas, resume, stored, text_of
from test_shared_resume import workers  # noqa: F401 (a fixture)
from test_shared_workers_faults import redis_outages
from webui.shared.answer_log import read_entry

pytestmark = pytest.mark.both_databases


def test_a_redis_restart_mid_answer_loses_nothing(workers, redis_server):
    a, b, _ = workers
    cookie = owner_cookie(a.url)
    ws, frames = begin(a, cookie, 5, max_tokens=250)
    start = frames[0]
    live, joined = connect(b, cookie), frames[-1]["seq"]
    resume(live, "live", start["message_id"], joined)
    followed = deltas(live, "live", joined + 1)
    stopper = connect(b, cookie)
    resume(stopper, "stopper", start["message_id"], joined)
    deltas(stopper, "stopper", joined + 1)
    redis_server.stop()
    frames += deltas(ws, "r1", frames[-1]["seq"] + 10)  # the answer goes on streaming to the socket it has
    # A stop from the other worker cannot reach the answer now: that request ends with the error, the answer goes on.
    stopper.send({"type": "stop", "request_id": "stopper"})
    refused = stopper.until_final("stopper")[-1]
    assert (refused["type"], refused["code"]) == ("error", "shared_unavailable"), refused

    follower = connect(b, cookie)
    resume(follower, "during", start["message_id"], 0)
    refused = follower.until_final("during")
    assert [(f["type"], f.get("code")) for f in refused] == [("error", "shared_unavailable")]
    assert "try again" in refused[0]["message"]
    redis_server.start()
    # Back, and empty: the publisher writes the answer again, and the other worker follows it from where it is.
    seen = frames[-1]["seq"]
    deadline = time.monotonic() + 10
    for attempt in range(100):
        resume(follower, f"after{attempt}", start["message_id"], seen)
        reply = follower.recv()
        if reply["type"] == "start":
            break
        assert reply["code"] == "shared_unavailable" and time.monotonic() < deadline, reply
        time.sleep(0.1)
    rest = [reply] + deltas(follower, reply["request_id"], seen + 5)
    assert rest[1]["text"].startswith(f"tick{seen} ")
    follower.send({"type": "stop", "request_id": reply["request_id"]})
    rest += follower.until_final(reply["request_id"])
    frames += ws.until_final("r1")
    # The follower that was reading on the other worker when Redis went away read on when it came back.
    followed += live.until_final("live")
    assert followed[-1]["reason"] == "stopped"
    assert frames[-1]["type"] == rest[-1]["type"] == "done"
    assert frames[-1]["reason"] == rest[-1]["reason"] == "stopped"
    answer = stored(b, cookie, start["conversation_id"])
    assert answer["status"] == "stopped" and answer["content"] == text_of(frames)
    assert answer["content"] == "".join(f"tick{n} " for n in range(seen)) + text_of(rest)
    assert answer["content"] == "".join(f"tick{n} " for n in range(joined)) + text_of(followed)
    for server in (a, b):
        server.stop()
        # A's publisher, B's reader and either's limits, lease and sign-out listener: one outage, told once.
        assert redis_outages(server) == ["down", "back"]


def test_a_place_trimmed_from_the_stream_is_filled_from_storage(workers, redis_server):
    a, b, _ = workers
    cookie = owner_cookie(a.url)
    ws, frames = begin(a, cookie, 120)
    start = frames[0]
    # As the stream's cap does to a long answer: the oldest entries go, here those before chunk 60 (stored by now).
    client, key = redis.Redis.from_url(redis_server.url), f"webui:answer:{start['message_id']}"
    kept = next(entry_id for entry_id, fields in client.xrange(key) if read_entry(fields)["seq"] >= 60)
    client.xtrim(key, minid=kept, approximate=False)
    follower = connect(b, cookie)
    resume(follower, "late", start["message_id"], 3)
    late = deltas(follower, "late", frames[-1]["seq"] + 5)
    assert late[0] == {**start, "request_id": "late", "replay": True}
    follower.send({"type": "stop", "request_id": "late"})
    late += follower.until_final("late")
    frames += ws.until_final("r1")
    delta_seqs(late)
    answer = stored(b, cookie, start["conversation_id"])
    assert answer["status"] == "stopped"
    # The page replaces its text with a replay's: the whole answer, once.
    assert text_of(late) == text_of(frames) == answer["content"]


def kill(server):
    """SIGKILL a `webui serve` and its worker processes, as a crash does."""
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    for pid in children:
        os.kill(int(pid), signal.SIGKILL)
    server.process.kill()
    server.process.wait(10)


def test_a_follower_of_a_worker_that_dies_ends_as_interrupted(workers):
    a, b, _ = workers
    cookie = owner_cookie(a.url)
    ws, frames = begin(a, cookie, 3)
    follower = connect(b, cookie)
    resume(follower, "watch", frames[0]["message_id"], frames[-1]["seq"])
    followed = deltas(follower, "watch", frames[-1]["seq"] + 1)
    shown = text_of(frames) + text_of(followed[1:])
    time.sleep(0.6)  # what was shown is stored within 0.5 s
    kill(a)
    followed += follower.until_final("watch", timeout=20)
    assert followed[-1] == {"type": "done", "request_id": "watch", "reason": "interrupted"}
    delta_seqs(followed)
    # The live worker marks the dead one's answer interrupted, with all the text shown half a second before the kill.
    deadline = time.monotonic() + 30
    while (answer := stored(b, cookie, frames[0]["conversation_id"]))["status"] == "streaming" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert answer["status"] == "interrupted" and answer["content"].startswith(shown)


def worker_pid(server):
    """The pid of the one worker process of a `webui serve`."""
    (pid,) = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    return int(pid)


def test_a_stop_through_the_other_worker_outlives_a_redis_restart(workers, redis_server):
    a, b, _ = workers
    cookie = owner_cookie(a.url)
    ws, frames = begin(a, cookie, 3)
    stopper = connect(b, cookie)
    resume(stopper, "stopper", frames[0]["message_id"], frames[-1]["seq"])
    deltas(stopper, "stopper", frames[-1]["seq"] + 1)
    # The worker running the answer reads no stop before Redis restarts empty: it is stopped meanwhile, as a busy or
    # swapped-out one may be.
    runner = worker_pid(a)
    os.kill(runner, signal.SIGSTOP)
    try:
        stopper.send({"type": "stop", "request_id": "stopper"})
        time.sleep(0.3)
        redis_server.stop()
        redis_server.start()
    finally:
        os.kill(runner, signal.SIGCONT)
    final = stopper.until_final("stopper", timeout=20)[-1]
    assert (final["type"], final.get("reason")) == ("done", "stopped"), final
    assert ws.until_final("r1", timeout=20)[-1]["reason"] == "stopped"
