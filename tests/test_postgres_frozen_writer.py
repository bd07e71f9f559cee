"""A webui process that freezes inside a write transaction (stopped, swapped out, its host cut off) holds the writers'
lock of every host: PostgreSQL ends its session, and the others write again within twice the database's wait."""
import threading
import time

import pytest

from webui import create_app
from webui.errors import UserError
from webui.storage import conversations, get_db
from webui.storage.database import StorageError, transaction

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
