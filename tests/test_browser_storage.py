"""The page when the server cannot save an answer: the text stays, the page says so, and a reload brings it back."""
import sqlite3
import time
from pathlib import Path

import pytest
from browser import answers, start_counting, wait_until_idle
from playwright.sync_api import expect

from webui import storage


@pytest.fixture
def app_config(app_config):
    """A write waits a second for a lock."""
    return {**app_config, "WEBUI_DATABASE_TIMEOUT": 1}


def stored_status(path, message_id):
    """The message's status in the database file."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT status FROM messages WHERE id = ?", (message_id,)).fetchone()[0]
    finally:
        db.close()


def test_an_answer_that_cannot_be_saved_stays_on_the_page(page, server, app_config):
    path = Path(app_config["WEBUI_DATA_DIR"]) / storage.FILENAME
    start_counting(page, server)
    answer = answers(page).last
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
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
    finally:
        holder.close()
    deadline = time.monotonic() + 5
    while stored_status(path, message_id) != "stopped" and time.monotonic() < deadline:
        time.sleep(0.1)
    page.reload()
    wait_until_idle(page)
    expect(answers(page).last.locator(".content")).to_have_text(shown)
    expect(answers(page).last.locator(".message-error")).to_have_count(0)
    expect(answers(page).last.locator(".meta")).to_contain_text("stopped")
