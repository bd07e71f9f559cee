"""Many stored answers that end at the same moment are all written and told their outcome, however short
WEBUI_DATABASE_TIMEOUT is (on SQLite and on PostgreSQL): the ends wait for no one but another program that holds the
database, and neither do they when the titles of many conversations are written at once."""
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Browser
from test_answer_saver import Answers, server_log, streaming
from test_conversation_restart import owner_cookie

pytestmark = pytest.mark.both_databases

ANSWERS = 300
# Streams about 23 KB, then waits (at most a minute) until the test creates the file RELEASE, then ends: the answers of
# a test all end within a few milliseconds, as long answers that started together do.
TOGETHER = '''
import os
import time

url = "http://127.0.0.1/together"
model = ["together"]
supports_stream = True
needs_auth = False
RELEASE = {release!r}


def _create_completion(model, messages, stream, **kwargs):
    for n in range(4000):
        yield f"w{{n}} "
    for _ in range(6000):
        if os.path.exists(RELEASE):
            break
        time.sleep(0.01)
    yield "end"
'''


def test_answers_that_end_together_are_all_written_and_told_so(tmp_path, providers_dir, database_url):
    release = tmp_path / "release"
    source = TOGETHER.format(release=str(release))
    settings = {"WEBUI_DATABASE_TIMEOUT": "1", "WEBUI_MAX_STREAMS_PER_SOCKET": "300", "WEBUI_MAX_SOCKETS_PER_USER": "30"}
    with streaming(tmp_path, providers_dir, ANSWERS, "together", source, database_url, **settings) as (server, answers, db):
        ids = answers.message_ids()
        answers.until(lambda: all(text.endswith("w3999 ") for text in answers.text.values()), "every answer waits")
        release.touch()
        answers.until(lambda: len(answers.final) == ANSWERS, "every answer ended", 60)

        outcomes = {(frame["type"], frame.get("reason"), frame.get("code")) for frame in answers.final.values()}
        assert outcomes == {("done", "complete", None)}
        # Whoever got the final frame reads the outcome back, text and all.
        rows = db.execute(
            f"SELECT id, status, content FROM stored_messages WHERE id IN ({', '.join('?' * ANSWERS)})", list(ids.values())
        )
        stored = {message_id: (status, content) for message_id, status, content in rows}
        assert all(stored[message_id] == ("complete", answers.text[request_id]) for request_id, message_id in ids.items())
    assert not [line for line in server_log(server) if "could not save" in line]


# Answers at once; names a conversation only once the test creates the file `release`, so that every title is written
# at the same moment, as the titles of answers that ended together are.
NAMED_TOGETHER = '''
import os
import time

url, model = "http://127.0.0.1/named", ["named"]
supports_stream, needs_auth = True, False


def _create_completion(model, messages, stream, **kwargs):
    if not messages[-1]["content"].startswith("Write a title"):
        yield "Shelves go on the long wall."
        return
    deadline = time.monotonic() + 60
    while not os.path.exists({release!r}) and time.monotonic() < deadline:
        time.sleep(0.01)
    yield "Long wall shelves"
'''
NAMED = 40
# A conversation imported in one transaction that holds the write lock for about half a second: one statement a
# message, each a trip to a native thread under gevent, as each statement of a turn's transaction is.
IMPORTED = [{"role": "user" if n % 2 == 0 else "assistant", "content": f"message {n}"} for n in range(6000)]


# On PostgreSQL a title's write waits for no lock that an import holds: its rows are not the import's.
@pytest.mark.sqlite_only
def test_titles_written_together_during_a_long_transaction_hold_up_neither_it_nor_the_saver(tmp_path, providers_dir):
    release = tmp_path / "release"
    (providers_dir / "named.py").write_text(NAMED_TOGETHER.format(release=str(release)))
    settings = {"WEBUI_DATABASE_TIMEOUT": "3", "WEBUI_MAX_STREAMS_PER_SOCKET": "64"}
    with streaming(tmp_path, providers_dir, 10, **settings) as (server, steady, db), ThreadPoolExecutor(1) as pool:
        named = Answers(server.url, owner_cookie(server.url), NAMED, "named")
        named.until(lambda: len(named.final) == NAMED, "the first answers ended")
        importer = Browser(server.url)
        headers = {"X-CSRF-Token": importer.csrf_token()}
        url = server.url + "/api/conversations/import"
        importing = pool.submit(importer.http.post, url, json=IMPORTED, headers=headers, timeout=60)
        # Their titles are written while the import's transaction holds the write lock.
        wait_for_a_long_write(db.path, importing)
        release.touch()
        # Answers that end meanwhile are written and told so, not told storage_failed.
        time.sleep(0.2)
        steady.stop(["a0", "a1", "a2"])
        ended = [steady.final[request_id] for request_id in ("a0", "a1", "a2")]
        assert [(frame["type"], frame.get("reason")) for frame in ended] == [("done", "stopped")] * 3, ended
        assert importing.result(timeout=60).status_code == 201
        first = [start["conversation_id"] for start in named.start.values()]
        deadline = time.monotonic() + 30
        while titled(db, first) < NAMED and time.monotonic() < deadline:
            time.sleep(0.1)
        assert titled(db, first) == NAMED, "every title was written"
        steady.receive_for(1)
        assert list(steady.final) == ["a0", "a1", "a2"]
        named.close()
    assert not [line for line in server_log(server) if "could not save" in line]


def wait_for_a_long_write(path, importing):
    """Wait until one transaction has held the file's write lock for a tenth of a second (the saver's rounds hold it
    for a few milliseconds)."""
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    held_since = None
    try:
        for _ in range(3000):
            assert not importing.done(), importing.result()
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
                held_since = None
            except sqlite3.OperationalError:
                held_since = held_since or time.monotonic()
                if time.monotonic() - held_since >= 0.1:
                    return
            time.sleep(0.005)
        raise AssertionError("no transaction held the write lock for a tenth of a second")
    finally:
        probe.close()


def titled(db, conversation_ids):
    """How many of the conversations have the title their model gave."""
    marks = ", ".join("?" * len(conversation_ids))
    query = f"SELECT count(*) FROM conversations WHERE title = 'Long wall shelves' AND id IN ({marks})"
    return db.execute(query, conversation_ids)[0][0]
