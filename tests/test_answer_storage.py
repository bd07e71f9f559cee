"""What a stored answer streams is what storage keeps, whatever text a provider yields and whatever the disk does."""
import sqlite3
import time
from pathlib import Path

import pytest

from conftest import LiveServer, Visitor, turn
from webui import create_app, storage

pytestmark = pytest.mark.both_databases

# Halves of emoji, as a provider that cuts UTF-16 text into chunks yields them.
SURROGATES = '''
import time

url = "http://127.0.0.1/surrogates"
model = ["split", "lone", "paused", "held"]
supports_stream = True
needs_auth = False


def _create_completion(model, messages, stream, **kwargs):
    if model == "split":
        yield "smile "
        yield "\\ud83d"
        yield "\\ude00"
    elif model == "paused":
        # A write comes between the two halves of one emoji.
        yield "pair "
        yield "\\ud83d"
        time.sleep(0.8)
        yield "\\ude00"
        yield " end"
    elif model == "held":
        # Half an emoji at the end of a chunk of text that is shown at once, then a pause.
        yield "shown and stored \\ud83d"
        time.sleep(1.5)
        yield "\\ude00 end"
    else:
        yield "half "
        yield "\\ud83d"
        # Long enough for the saver to write the lone half while the provider waits.
        time.sleep(0.8)
        yield " end"
'''


@pytest.fixture
def app_config(app_config, providers_dir):
    """The test providers and one that yields surrogates; a write waits a second for a lock."""
    (providers_dir / "surrogates.py").write_text(SURROGATES)
    return {**app_config, "WEBUI_DATABASE_TIMEOUT": 1}


def stored_answer(visitor, conversation_id):
    """The last message of a conversation as the API gives it."""
    return visitor.http.get(f"/api/conversations/{conversation_id}").json["messages"][-1]


def wait_for(condition, seconds=5.0):
    """Poll `condition()` until it is true or `seconds` pass; its last value."""
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def ask(ws, request_id, model, provider="testing"):
    """Send a stored turn and collect its frames; the last must say it completed."""
    ws.send({**turn(request_id, content="go", model=model), "provider": provider})
    frames = ws.until_final(request_id)
    assert frames[-1]["type"] == "done" and frames[-1]["reason"] == "complete"
    return frames


def test_surrogates_are_stored_as_text(visitor):
    ws = visitor.connect()
    for model, stored in (("split", "smile 😀"), ("lone", "half \ufffd end"), ("paused", "pair 😀 end")):
        frames = ask(ws, model, model, "surrogates")
        answer = stored_answer(visitor, frames[0]["conversation_id"])
        assert (answer["content"], answer["status"]) == (stored, "complete")


def test_text_before_half_an_emoji_is_stored_while_the_provider_pauses(visitor):
    """Only the half waits for its other half: the text shown before it in the same chunk is stored in time."""
    ws = visitor.connect()
    ws.send({**turn("held", content="go", model="held"), "provider": "surrogates"})
    start, shown = ws.recv(), ws.recv()
    assert shown["text"] == "shown and stored \ud83d"
    assert wait_for(lambda: stored_answer(visitor, start["conversation_id"])["content"] == "shown and stored ", 0.8)
    assert ws.until_final("held")[-1]["reason"] == "complete"
    answer = stored_answer(visitor, start["conversation_id"])
    assert (answer["content"], answer["status"]) == ("shown and stored 😀 end", "complete")


def test_the_saver_outlives_what_it_could_not_write(visitor):
    ws = visitor.connect()
    # The saver meets the lone half while the provider waits (it used to die of it, for good).
    ws.send({**turn("lone", content="go", model="lone"), "provider": "surrogates"})
    ws.until_final("lone")
    ws.send(turn("stall", content="wait", model="stall"))
    start = ws.recv()
    assert ws.recv()["text"] == "first "
    assert wait_for(lambda: stored_answer(visitor, start["conversation_id"])["content"] == "first ", 2.5)
    assert stored_answer(visitor, start["conversation_id"])["status"] == "streaming"
    assert ws.until_final("stall")[-1]["reason"] == "complete"


@pytest.mark.sqlite_only
def test_an_end_that_cannot_be_written_is_told_kept_and_written_later(app_config, visitor):
    ws, other = visitor.connect(), visitor.connect()
    ws.send(turn("t", content="count", model="slow"))
    start = ws.recv()
    frames = [ws.recv() for _ in range(5)]
    holder = sqlite3.connect(Path(app_config["WEBUI_DATA_DIR"]) / storage.FILENAME, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        ws.send({"type": "stop", "request_id": "t"})
        frames += ws.until_final("t")
        shown = "".join(f["text"] for f in frames if f["type"] == "delta")
        assert frames[-1]["type"] == "error" and frames[-1]["code"] == "storage_failed"
        assert "saves it as soon as it can" in frames[-1]["message"]
        # Nothing claims the answer is stopped while the file says otherwise; the file still has it streaming.
        status, content = holder.execute("SELECT status, content FROM stored_messages WHERE id = ?", (start["message_id"],)).fetchone()
        assert status == "streaming" and shown.startswith(content)
        # Another page gets the whole text from the server's memory, and the truth about it.
        other.send({"type": "resume", "request_id": "again", "message_id": start["message_id"]})
        resumed = other.until_final("again")
        assert "".join(f["text"] for f in resumed if f["type"] == "delta") == shown
        assert (resumed[-1]["type"], resumed[-1]["code"]) == ("error", "storage_failed")
    finally:
        holder.close()
    assert wait_for(lambda: stored_answer(visitor, start["conversation_id"])["status"] == "stopped", 5)
    assert stored_answer(visitor, start["conversation_id"])["content"] == shown
    other.send({"type": "resume", "request_id": "later", "message_id": start["message_id"]})
    resumed = other.until_final("later")
    assert "".join(f["text"] for f in resumed if f["type"] == "delta") == shown
    assert (resumed[-1]["type"], resumed[-1]["reason"]) == ("done", "stopped")


@pytest.mark.sqlite_only
def test_two_pages_of_one_owner_cannot_both_take_its_last_answer(app_config):
    # Each page's turn waits for the database to store its question: both were counted before either was listed.
    server = LiveServer(create_app({**app_config, "WEBUI_MAX_STREAMS_PER_SOCKET": 1}))
    try:
        visitor = Visitor(server)
        pages = [visitor.connect(), visitor.connect()]
        holder = sqlite3.connect(Path(app_config["WEBUI_DATA_DIR"]) / storage.FILENAME, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            for n, page in enumerate(pages):
                page.send(turn(f"t{n}", content="wait", model="stall"))
            time.sleep(0.5)
        finally:
            holder.close()
        first = [page.recv() for page in pages]
        assert sorted((frame["type"], frame.get("code")) for frame in first) == [("error", "rate_limited"), ("start", None)]
        refused = next(frame for frame in first if frame["type"] == "error")
        assert refused["message"] == "Too many answers are being written for you at once; wait for one to finish."
        with server.app.app_context():
            for answer in server.app.extensions["webui.stored_answers"].running(lambda turn: True):
                answer.finish("stopped")
        started = pages[[frame["type"] for frame in first].index("start")]
        assert started.until_final(first[pages.index(started)]["request_id"])[-1]["reason"] == "stopped"
        # The slot is given back: the refused page's next turn starts.
        refused_page = pages[1 - pages.index(started)]
        refused_page.send(turn("again", content="go"))
        assert refused_page.until_final("again")[-1]["reason"] == "complete"
    finally:
        server.stop()
