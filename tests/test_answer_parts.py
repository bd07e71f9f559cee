"""A streaming answer is stored by parts: each write adds only its new text (and indexes only that), every reader and
search sees the whole text at any moment, and its end puts it all in the message's content, indexed once."""
import sqlite3
import time
from pathlib import Path

import pytest

from conftest import turn
from databases import run_sql
from webui import storage
from webui.storage import conversations
from webui.storage.answer_parts import End, Part, append_parts, end_answers, lead_after, recover
from webui.storage.database import transaction

TOKEN = "B" * 22
OWNER = f"anon:{TOKEN}"


def read(app, sql, params=()):
    """Rows of a query on the app's database, as tuples."""
    return [tuple(row) for row in run_sql(app, sql, params)]


def on_sqlite(app):
    """Whether the app's database is SQLite, whose FTS5 indexes a test can read word by word."""
    return app.extensions["webui.store"].sqlite


def terms(app, index, message_id=None):
    """The words an FTS5 index holds: word -> how many rows have it; with a `message_id`, also the text of that
    message's parts, read in the same transaction: (words, parts)."""
    db = sqlite3.connect(Path(app.extensions["webui.database"]), isolation_level=None)
    try:
        db.execute(f"CREATE VIRTUAL TABLE temp.words USING fts5vocab(main, {index}, 'row')")
        db.execute("BEGIN")
        words = dict(db.execute("SELECT term, doc FROM temp.words").fetchall())
        if message_id is None:
            return words
        parts = db.execute("SELECT text FROM answer_parts WHERE message_id = ? ORDER BY seq", (message_id,)).fetchall()
        return words, [text for (text,) in parts]
    finally:
        db.close()


def wait_for(condition, seconds=5.0):
    """Poll `condition()` until it is true or `seconds` pass; its last value."""
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def found(client, query):
    """The ids of the conversations a search lists."""
    return [c["id"] for c in client.get("/api/conversations", query_string={"q": query}).json["conversations"]]


def text_of(frames):
    """The text of a request's delta frames."""
    return "".join(f["text"] for f in frames if f["type"] == "delta")


def stored_text(visitor, start):
    """The text of the answer a start frame opened, as the API gives it."""
    return visitor.http.get(f"/api/conversations/{start['conversation_id']}").json["messages"][-1]["content"]


def test_a_write_while_streaming_adds_and_indexes_only_its_new_text(visitor):
    app = visitor.server.app
    ws = visitor.connect()
    ws.send(turn("t", content="go", model="slow"))
    start = ws.recv()
    message_id = start["message_id"]

    # A few writes: about 20 words each.
    assert wait_for(lambda: len(stored_text(visitor, start).split()) >= 60)
    # The message's own text and its search index are not written while it streams: what a write costs does not
    # depend on how long the answer already is.
    assert read(app, "SELECT content, status FROM messages WHERE id = ?", (message_id,)) == [("", "streaming")]
    assert terms(app, "message_search") == {"go": 1}
    indexed, stored = terms(app, "part_search", message_id)
    assert len(stored) >= 2
    # Each part is text no other part has, indexed once: every word of the parts is in exactly one indexed part.
    words = "".join(stored).split()
    assert len(words) == len(set(words)) and all(stored)
    assert indexed == {word: 1 for word in words}
    # Readers see the whole text, and search finds the newest stored word.
    assert stored_text(visitor, start).startswith("".join(stored))
    assert found(visitor.http, stored[-1].split()[-1]) == [start["conversation_id"]]

    ws.send({"type": "stop", "request_id": "t"})
    shown = text_of(ws.until_final("t"))
    assert shown.startswith("".join(stored))
    # At the end the whole text is the message's content, indexed once, and the parts are gone with their index.
    assert read(app, "SELECT content, status FROM messages WHERE id = ?", (message_id,)) == [(shown, "stopped")]
    assert terms(app, "part_search", message_id) == ({}, [])
    assert terms(app, "message_search") == {"go": 1, **{word: 1 for word in shown.split()}}
    assert found(visitor.http, stored[-1].split()[-1]) == [start["conversation_id"]]


def test_a_continued_answer_keeps_its_text_and_adds_parts_after_it(visitor):
    app = visitor.server.app
    ws = visitor.connect()
    ws.send(turn("first", content="alpha beta"))
    start = ws.until_final("first")[0]
    ws.send(turn("more", start["conversation_id"], model="slow", action="continue", message_id=start["message_id"]))
    frames = [ws.recv()]
    assert wait_for(lambda: stored_text(visitor, start).startswith("alpha beta tick0 tick1 "))
    assert read(app, "SELECT content FROM messages WHERE id = ?", (start["message_id"],)) == [("alpha beta ",)]
    ws.send({"type": "stop", "request_id": "more"})
    frames += ws.until_final("more")
    stored = read(app, "SELECT content, status FROM messages WHERE id = ?", (start["message_id"],))
    assert stored == [("alpha beta " + text_of(frames), "stopped")]
    assert read(app, "SELECT count(*) FROM answer_parts") == [(0,)]


@pytest.fixture
def streaming(app):
    """A conversation whose answer a server is writing: a question, then an answer with text in content and in parts.
    Returns (conversation id, answer id, a function that appends a part)."""
    db = storage.app_connection(app)
    with transaction(db):
        conversation_id = conversations.create_conversation(db, OWNER, "streaming", "testing", "echo")
        question = conversations.add_message(db, conversation_id, None, "user", "Is it lost?")
        answer = conversations.add_message(db, conversation_id, question, "assistant", "Said before. ", "streaming", "testing", "echo")
        conversations.update_conversation(db, conversation_id, leaf_id=answer)
    lead = [lead_after("", "Said before. ")]

    def append(text):
        assert db.write(append_parts, [Part(answer, text, lead[0], "testing", "echo", None)]) == set()
        lead[0] = lead_after(lead[0], text)

    append("Looking for the nee")
    append("dle: it is under the hay")
    yield conversation_id, answer, append
    db.close()


WHOLE = "Said before. Looking for the needle: it is under the hay"


@pytest.fixture
def owner_client(app):
    """A client with the cookie of the streaming conversation's owner."""
    client = app.test_client()
    client.set_cookie("webui_owner", TOKEN)
    return client


@pytest.mark.both_databases
def test_every_reader_gets_the_whole_text_while_it_streams(app, streaming, owner_client, server, testing_provider):
    conversation_id, answer, _ = streaming
    shown = owner_client.get(f"/api/conversations/{conversation_id}").json["messages"][-1]
    assert (shown["content"], shown["status"]) == (WHOLE, "streaming")
    exported = owner_client.get(f"/api/conversations/{conversation_id}/export").json
    assert exported["messages"][-1] == {"role": "assistant", "content": WHOLE}
    assert WHOLE in owner_client.get(f"/api/conversations/{conversation_id}/export?format=md").get_data(as_text=True)
    assert WHOLE in owner_client.get(f"/c/{conversation_id}").get_data(as_text=True)

    # A resume where no stream writes it (another server does) replays the stored text.
    ws = server.connect(headers={"Cookie": f"webui_owner={TOKEN}"})
    ws.send({"type": "resume", "request_id": "r", "message_id": answer})
    assert text_of(ws.until_final("r")) == WHOLE
    # The next turn's provider sees it as it is stored.
    ws.send(turn("next", conversation_id, content="and then?"))
    assert ws.until_final("next")[-1]["reason"] == "complete"
    assert testing_provider().seen_messages[-1][-2:] == [
        {"role": "assistant", "content": WHOLE},
        {"role": "user", "content": "and then?"},
    ]


@pytest.mark.both_databases
def test_search_finds_a_word_cut_by_a_write_while_it_streams_and_once_after_the_end(app, streaming, owner_client):
    conversation_id, answer, append = streaming
    append("stack, where")
    # "needle" and "haystack" were each cut in two by a write; "Said" is in the content.
    for word in ("needle", "haystack", "where", "said"):
        assert found(owner_client, word) == [conversation_id], word
    db = storage.app_connection(app)
    try:
        db.write(end_answers, [End(answer, " nobody looks.", "complete", "testing", "echo", None, None)])
    finally:
        db.close()
    assert read(app, "SELECT content FROM messages WHERE id = ?", (answer,)) == [(WHOLE + "stack, where nobody looks.",)]
    assert read(app, "SELECT count(*) FROM answer_parts") == [(0,)]
    for word in ("needle", "haystack", "where", "nobody"):
        assert found(owner_client, word) == [conversation_id], word
    if on_sqlite(app):
        assert terms(app, "part_search") == {}
        for word in ("needle", "haystack", "where", "nobody"):
            assert read(app, "SELECT count(*) FROM message_search WHERE message_search MATCH ?", (word,)) == [(1,)], word


@pytest.mark.both_databases
def test_deleting_a_streaming_conversation_deletes_its_parts_and_their_index(app, streaming, owner_client):
    conversation_id, _, _ = streaming
    assert owner_client.delete(f"/api/conversations/{conversation_id}").status_code == 204
    assert read(app, "SELECT count(*) FROM answer_parts") == [(0,)]
    assert not on_sqlite(app) or terms(app, "part_search") == {}
    assert found(owner_client, "needle") == []


@pytest.mark.both_databases
def test_a_server_that_starts_alone_puts_the_parts_of_cut_off_answers_into_their_text(app, streaming, owner_client):
    conversation_id, answer, _ = streaming
    recover(storage.app_connection(app))
    assert read(app, "SELECT content, status FROM messages WHERE id = ?", (answer,)) == [(WHOLE, "interrupted")]
    assert read(app, "SELECT count(*) FROM answer_parts") == [(0,)]
    assert not on_sqlite(app) or terms(app, "part_search") == {}
    assert found(owner_client, "needle") == [conversation_id]
