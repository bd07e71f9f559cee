"""The page when the server cannot save an answer (another program holds the write lock: SQLite's, or PostgreSQL's
tables): the text stays, the page says so, and a reload brings it back."""
import time

import pytest
from browser import answers, start_counting, wait_until_idle
from playwright.sync_api import expect

from other_program import DatabaseFile, PostgresDatabase

pytestmark = pytest.mark.both_databases


@pytest.fixture
def app_config(app_config):
    """A write waits a second for a lock."""
    return {**app_config, "WEBUI_DATABASE_TIMEOUT": 1}


def stored_status(db, message_id):
    """The message's status in the database."""
    return db.execute("SELECT status FROM messages WHERE id = ?", (message_id,))[0][0]


def test_an_answer_that_cannot_be_saved_stays_on_the_page(page, server, app_config, database_url):
    start_counting(page, server)
    answer = answers(page).last
    holder = PostgresDatabase(database_url) if database_url else DatabaseFile(app_config["WEBUI_DATA_DIR"])
    try:
        holder.hold_write_lock()
        page.click("#stop")
        error = answer.locator(".message-error")
        expect(error).to_contain_text("could not be saved yet")
        expect(error.get_by_role("button")).to_have_count(0)
        shown = answer.locator(".content").inner_text()
        assert shown.startswith("tick0 tick1 tick2 tick3")
        # The page does not read back the stored copy, which is behind: the text stays as it is.
        page.wait_for_timeout(1500)
        expect(answer.locator(".content")).to_have_text(shown)
        expect(error).to_be_visible()

        page.reload()
        expect(answers(page).last.locator(".message-error")).to_contain_text("could not be saved yet")
        expect(answers(page).last.locator(".content")).to_have_text(shown)
        message_id = answers(page).last.get_attribute("data-id")
        holder.release()
        deadline = time.monotonic() + 5
        while stored_status(holder, message_id) != "stopped" and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        holder.close()
    page.reload()
    wait_until_idle(page)
    expect(answers(page).last.locator(".content")).to_have_text(shown)
    expect(answers(page).last.locator(".message-error")).to_have_count(0)
    expect(answers(page).last.locator(".meta")).to_contain_text("stopped")
