"""The writers' lock every host's writes take turns at: held by another process, it stops only writes, with a clear
error; held by a webui process frozen inside its transaction (stopped, swapped out, its host cut off), PostgreSQL ends
that session, and the others write again within twice the database's wait."""
import threading
import time

import pytest

from test_answer_saver import stop_and_compare, streaming, wait_until_stored
from test_conversation_restart import owner_cookie
from test_shared_resume import connect
from conftest import turn
from webui import create_app
from webui.errors import UserError
from webui.storage import conversations, get_db
from webui.storage.database import StorageError, transaction
from webui.storage.engine import WRITERS_LOCK

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
WAIT = 1


def frozen_writer(app, owner, entered, woken):
    """Begin a write transaction and stop in it, as a process stopped by SIGSTOP does, until `woken`; then try to go
    on. Returns what going on gave: "committed", or the error."""
    with app.app_context():
        db = get_db()
        try:
            with transaction(db):
                conversations.create_conversation(db, owner, "written by the frozen host")
                entered.set()
                woken.wait(30)
                conversations.create_conversation(db, owner, "after the freeze")
        except (StorageError, UserError) as error:
            return error
    return "committed"


def test_a_writer_frozen_in_its_transaction_loses_it_and_the_others_write_again(app_config):
    config = {**app_config, "WEBUI_DATABASE_TIMEOUT": WAIT}
    frozen_host, other_host = create_app(config), create_app(config)
    entered, woken, outcome = threading.Event(), threading.Event(), []
    thread = threading.Thread(target=lambda: outcome.append(frozen_writer(frozen_host, "anon:frozen", entered, woken)))
    thread.start()
    try:
        assert entered.wait(10)
        written, refusals, deadline = None, 0, time.monotonic() + 6 * WAIT + 5
        with other_host.app_context():
            while written is None and time.monotonic() < deadline:
                try:
                    with transaction(db := get_db()):
                        written = conversations.create_conversation(db, "anon:other", "written by another host")
                except (StorageError, UserError):
                    refusals += 1  # storage_busy while the frozen session still holds the lock
        assert written is not None, "another host could not write while one froze in its transaction"
        assert refusals >= 1, "the frozen host held the lock for a while: the test froze it in time"
    finally:
        woken.set()
        thread.join(30)
    # The frozen host finds its session ended: nothing of its transaction was kept.
    assert isinstance(outcome[0], (StorageError, UserError)), outcome
    with other_host.app_context():
        titles = [row["title"] for row in conversations.list_conversations(get_db(), "anon:frozen", "", 10, None)[0]]
    assert titles == []


def test_another_process_holding_the_writers_lock_stops_only_writes_with_a_clear_error(
    tmp_path, providers_dir, database_url
):
    with streaming(tmp_path, providers_dir, 10, database_url=database_url, WEBUI_DATABASE_TIMEOUT="1") as (server, answers, db):
        ids = answers.message_ids()
        # As another webui process's writer stuck in its transaction would.
        db.execute("SELECT pg_advisory_lock(?)", (WRITERS_LOCK,))
        try:
            before = db.stored(ids.values())
            ws = connect(server, owner_cookie(server.url))
            ws.send(turn("refused", content="a new conversation"))
            refused = ws.until_final("refused")
            assert [(f["type"], f.get("code")) for f in refused] == [("error", "storage_busy")]
            assert "busy" in refused[0]["message"]
            answers.receive_for(1.5)
            assert db.stored(ids.values()) == before
            shown = answers.shown()
        finally:
            db.execute("SELECT pg_advisory_unlock(?)", (WRITERS_LOCK,))
        wait_until_stored(db, answers, shown, ids)
        assert not answers.final
        ws.send(turn("again", content="a new conversation"))
        assert ws.until_final("again")[-1].get("reason") == "complete"
        stop_and_compare(db, answers, ids)
