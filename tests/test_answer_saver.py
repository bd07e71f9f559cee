"""Many answers streaming at once are saved together: one transaction a round for all the answers that are due, each
answer's stored text at most about half a second behind what it showed, and nothing lost when a round fails (another
program holds the write lock: SQLite's, or PostgreSQL's tables)."""
import json
import time
from contextlib import contextmanager

import pytest
from simple_websocket import Client

from conftest import DaemonThread, ServerProcess, Socket, turn
from databases import database_settings
from other_program import DatabaseFile, PostgresDatabase
from test_cli import server_command
from test_conversation_restart import owner_cookie
from webui.chat.stored_answers import FLUSH_SECONDS, SAVER_TICK

pytestmark = pytest.mark.both_databases

# A word every 50 ms for a minute: an answer that is still streaming whenever a test looks.
STEADY = '''
import time

url = "http://127.0.0.1/steady"
model = ["steady"]
supports_stream = True
needs_auth = False


def _create_completion(model, messages, stream, **kwargs):
    for n in range(1200):
        yield f"w{n} "
        time.sleep(0.05)
'''
STREAMS_PER_SOCKET = 10


class Answers:
    """Stored answers streaming through `webui serve`, as a browser's sockets receive them: each one's start frame,
    text, when its text arrived, and its final frame."""

    def __init__(self, url, cookie, count, provider="steady"):
        """Ask `provider` (whose one model has its name) for `count` answers, each in a conversation of its own, and
        wait for their start frames."""
        ws_url = url.replace("http", "ws", 1) + "/ws"
        sockets = -(-count // STREAMS_PER_SOCKET)
        self.sockets = [
            Socket(Client.connect(ws_url, headers={"Cookie": cookie}, thread_class=DaemonThread)) for _ in range(sockets)
        ]
        self.socket_of, self.start, self.text, self.arrivals, self.final = {}, {}, {}, {}, {}
        for n in range(count):
            request_id = f"a{n}"
            self.socket_of[request_id] = self.sockets[n // STREAMS_PER_SOCKET]
            self.text[request_id], self.arrivals[request_id] = "", []
            question = {**turn(request_id, content=f"question {n}", model=provider), "provider": provider}
            self.socket_of[request_id].send(question)
        self.until(lambda: len(self.start) == count, "every answer started")

    def receive(self):
        """Take in every frame that has arrived."""
        for socket in self.sockets:
            for _ in range(100_000):
                data = socket.ws.receive(timeout=0)
                if data is None:
                    break
                frame = json.loads(data)
                request_id = frame.get("request_id")
                if frame["type"] == "start":
                    self.start[request_id] = frame
                elif frame["type"] == "delta":
                    self.text[request_id] += frame["text"]
                    self.arrivals[request_id].append((time.monotonic(), len(self.text[request_id])))
                elif frame["type"] in ("done", "error"):
                    self.final[request_id] = frame

    def until(self, condition, what, seconds=30):
        """Receive until `condition()` holds, failing the test after `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.receive()
            if condition():
                return
            time.sleep(0.01)
        raise AssertionError(f"not within {seconds}s: {what}")

    def message_ids(self):
        """request id -> the id of the message its answer is stored in."""
        return {request_id: start["message_id"] for request_id, start in self.start.items()}

    def receive_for(self, seconds):
        """Receive for `seconds`."""
        until = time.monotonic() + seconds
        self.until(lambda: time.monotonic() >= until, "time passed", seconds + 1)

    def shown(self):
        """request id -> the text of the answer that has arrived by now."""
        self.receive()
        return dict(self.text)

    def shown_by(self, request_id, moment):
        """The text of an answer that had arrived by `moment`."""
        length = max((length for arrived, length in self.arrivals[request_id] if arrived <= moment), default=0)
        return self.text[request_id][:length]

    def stop(self, request_ids=None):
        """Stop answers (all by default) and wait for their final frames."""
        request_ids = list(self.start if request_ids is None else request_ids)
        for request_id in request_ids:
            self.socket_of[request_id].send({"type": "stop", "request_id": request_id})
        self.until(lambda: all(request_id in self.final for request_id in request_ids), "every stopped answer ended")

    def close(self):
        """Close the sockets."""
        for socket in self.sockets:
            socket.close()


def server_log(server):
    """The lines a server that has stopped wrote after its start."""
    lines = []
    for _ in range(100_000):
        line = server.lines.get(timeout=10)
        if line is None:
            return lines
        lines.append(line)
    return lines


@contextmanager
def streaming(tmp_path, providers_dir, count, provider="steady", source=STEADY, database_url=None, **settings):
    """`count` answers of one person streaming through `webui serve` (with `settings`, on the data folder's SQLite
    file or `database_url`) from the drop-in `provider` (the module `source`), each written once by now: yields (the
    server, its Answers, the database as another program sees it); the server is stopped after."""
    (providers_dir / f"{provider}.py").write_text(source)
    # An owner may have as many answers running as a socket may have streams.
    settings = {"WEBUI_MAX_STREAMS_PER_SOCKET": "64", "WEBUI_REQUESTS_PER_MINUTE": "1000", **settings}
    command, env = server_command(tmp_path / "data", providers_dir, "serve", LANG="C", **database_settings(database_url),
                                  **settings)
    server = ServerProcess(command, env=env)
    answers = db = None
    try:
        answers = Answers(server.url, owner_cookie(server.url), count, provider)
        db = PostgresDatabase(database_url) if database_url else DatabaseFile(tmp_path / "data")
        time.sleep(2 * FLUSH_SECONDS)
        yield server, answers, db
    finally:
        for resource in (answers, db):
            if resource is not None:
                resource.close()
        server.stop()


def stored_everything_shown(db, answers, shown, ids):
    """Whether each answer's stored text is a prefix of what it showed and has all of `shown` (request id -> text)."""
    stored = db.stored(ids.values())
    answers.receive()
    return all(
        answers.text[request_id].startswith(stored[message_id]) and stored[message_id].startswith(shown[request_id])
        for request_id, message_id in ids.items()
    )


def wait_until_stored(db, answers, shown, ids, seconds=5):
    """Wait (at most `seconds`) until the answers `ids` (request id -> message id) have stored all they had `shown`,
    and check that they have."""
    deadline = time.monotonic() + seconds
    while not stored_everything_shown(db, answers, shown, ids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stored_everything_shown(db, answers, shown, ids)


def stop_and_compare(db, answers, ids):
    """Stop the answers `ids` and check that each stored its whole text."""
    answers.stop(ids)
    final = db.stored(ids.values())
    assert all(final[message_id] == answers.text[request_id] for request_id, message_id in ids.items())


def test_fifty_answers_are_saved_in_one_transaction_a_round_each_at_most_half_a_second_behind(
    tmp_path, providers_dir, database_url
):
    with streaming(tmp_path, providers_dir, 50, database_url=database_url) as (_, answers, db):
        ids = answers.message_ids()
        ((first_part,),) = db.execute("SELECT coalesce(max(seq), 0) FROM answer_parts")
        samples = []

        def sample():
            """Every 0.2 s: the stored answers, and the moment they were read."""
            if not samples or time.monotonic() - samples[-1][0] > 0.2:
                answers.receive()
                samples.append((time.monotonic(), db.stored(ids.values())))

        began = time.monotonic()
        commits = db.commits.during(4 * FLUSH_SECONDS, sample)
        took = time.monotonic() - began
        parts = dict(db.execute("SELECT message_id, count(*) FROM answer_parts WHERE seq > ? GROUP BY message_id", (first_part,)))

        # Every answer was written a few times, but all of them together in at most one transaction a round.
        assert len(parts) == 50 and min(parts.values()) >= 2, parts
        rounds = took / SAVER_TICK + 1
        assert commits <= rounds, f"{commits} transactions in {took:.2f}s wrote {sum(parts.values())} parts"
        assert sum(parts.values()) >= 3 * commits

        stop_and_compare(db, answers, ids)
        # Each stored text was what had been shown, and had everything shown half a second before it was read.
        promise = FLUSH_SECONDS + 2 * SAVER_TICK
        for read_at, stored in samples:
            for request_id, message_id in ids.items():
                assert answers.text[request_id].startswith(stored[message_id])
                assert stored[message_id].startswith(answers.shown_by(request_id, read_at - promise))


def test_a_round_that_cannot_write_loses_nothing_and_is_logged_once(tmp_path, providers_dir, database_url):
    with streaming(tmp_path, providers_dir, 20, database_url=database_url, WEBUI_DATABASE_TIMEOUT="1") as (server, answers, db):
        ids = answers.message_ids()
        db.hold_write_lock()
        try:
            before = db.stored(ids.values())
            # Long enough for rounds to give up (after WEBUI_DATABASE_TIMEOUT) twice.
            answers.receive_for(2.5)
            assert db.stored(ids.values()) == before
            shown = answers.shown()
        finally:
            db.release()
        # Once the lock is free, a round or two write everything the answers showed while it was held.
        wait_until_stored(db, answers, shown, ids)
        assert not answers.final
        stop_and_compare(db, answers, ids)
    # Each round that failed is one line of the log, however many answers it had to write.
    failures = [line for line in server_log(server) if "could not save" in line]
    assert 1 <= len(failures) <= 3, failures


def test_an_answer_whose_conversation_is_deleted_stops_and_the_others_in_its_round_are_written(
    tmp_path, providers_dir, database_url
):
    with streaming(tmp_path, providers_dir, 20, database_url=database_url) as (server, answers, db):
        ids = answers.message_ids()
        victim = ids.pop("a7")
        # Another program deletes a conversation while the saver waits for the write lock, so that the answers due
        # meanwhile (all of them, by the time the lock is free) are written together with the deleted one's.
        db.hold_write_lock()
        try:
            db.execute("DELETE FROM conversations WHERE id = ?", (answers.start["a7"]["conversation_id"],))
            answers.receive_for(FLUSH_SECONDS + 2 * SAVER_TICK)
        finally:
            db.release(commit=True)
        shown = answers.shown()

        answers.until(lambda: "a7" in answers.final, "the answer whose conversation is gone ended")
        assert answers.final["a7"]["type"] == "done" and answers.final["a7"]["reason"] == "stopped"
        assert db.stored([victim]) == {}
        wait_until_stored(db, answers, shown, ids)
        assert list(answers.final) == ["a7"]
        stop_and_compare(db, answers, ids)
    assert not [line for line in server_log(server) if "could not save" in line]
