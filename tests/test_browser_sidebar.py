"""The sidebar in a real browser: its fixed ends and date groups, a search that finds nothing, row actions on hover,
keyboard focus and touch, and the delete dialog."""
import re
import sqlite3
from datetime import timedelta

import pytest
from browser import DESKTOP, open_chat, phone, screenshot  # noqa: F401 (phone is a fixture)
from playwright.sync_api import expect

# The page's own fetch, so that requests carry its cookies, Origin and CSRF header; imports `bodies` in turn.
IMPORT_ALL = """async (bodies) => {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const ids = [];
  for (const body of bodies) {
    const response = await fetch("/api/conversations/import", {
      method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": token }, body: JSON.stringify(body),
    });
    if (response.status !== 201) throw new Error(`import answered ${response.status}: ${await response.text()}`);
    ids.push((await response.json()).id);
  }
  return ids;
}"""

GROUPS = {
    "en": ["Today", "Yesterday", "Previous 7 days", "Older"],
    "ru": ["Сегодня", "Вчера", "Предыдущие 7 дней", "Ранее"],
}
NOTHING_FOUND = {"en": "Nothing found", "ru": "Ничего не найдено"}
DELETE = {"en": "Delete", "ru": "Удалить"}
# The row's actions: how opaque they are, and whether the rename button is what a click at its centre would hit.
ACTIONS_SHOWN = """(row) => {
  const actions = row.querySelector(".conversation-actions");
  const rename = actions.querySelector("button");
  const box = rename.getBoundingClientRect();
  const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
  return Number(getComputedStyle(actions).opacity) === 1 && rename.contains(hit);
}"""


@pytest.fixture
def app_config(app_config):
    """Imports enough to fill the list in one go."""
    return {**app_config, "WEBUI_IMPORTS_PER_MINUTE": 200}


def box(page, selector):
    """A visible element's bounding box."""
    return page.locator(selector).bounding_box()


def import_conversations(page, titles):
    """Import one short conversation per title, in this order; returns their ids."""
    bodies = [{"title": title, "messages": [{"role": "user", "content": title}, {"role": "assistant", "content": "ok"}]} for title in titles]
    return page.evaluate(IMPORT_ALL, bodies)


def set_updated(server, times):
    """Set conversations' updated_at (Unix seconds), as if they had last changed then: {id: time}."""
    db = sqlite3.connect(server.app.extensions["webui.database"])
    with db:
        db.executemany("UPDATE conversations SET updated_at = ? WHERE id = ?", [(when, cid) for cid, when in times.items()])
    db.close()


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_only_the_list_scrolls_and_it_is_grouped_by_date(page, server, lang):
    """With 52 conversations New chat and Search stay on top and Import, Theme and the languages at the bottom, in
    view, while the list between them scrolls; the list comes in Today, Yesterday, Previous 7 days and Older groups,
    which the next page of the list continues."""
    open_chat(page, server, f"/?lang={lang}")
    # Noon of a fixed day in the browser's own time zone is "now" for the page; the groups are counted from it.
    noon = page.evaluate("new Date(2026, 2, 18, 12).getTime() / 1000")
    ages = [timedelta(hours=n + 1) for n in range(5)] + [timedelta(hours=24 + n) for n in range(4)]
    ages += [timedelta(days=3, hours=n) for n in range(10)] + [timedelta(days=30 + n) for n in range(33)]
    ids = import_conversations(page, [f"chat {n}" for n in range(len(ages))])
    set_updated(server, {cid: noon - age.total_seconds() for cid, age in zip(ids, ages)})
    page.clock.set_fixed_time(noon)
    page.reload()
    expect(page.locator(".conversation-link")).to_have_count(50)
    fixed = ["#new-chat", "#search", ".sidebar-bottom .file-button", "#theme", ".languages"]
    for selector in fixed:
        expect(page.locator(selector)).to_be_in_viewport(ratio=1)
    places = {selector: box(page, selector) for selector in fixed}
    scroller = page.locator(".sidebar-list")
    assert scroller.evaluate("(list) => list.scrollHeight > list.clientHeight + 1000")
    scroller.evaluate("(list) => { list.scrollTop = list.scrollHeight; }")
    expect(page.locator("#more-conversations")).to_be_in_viewport(ratio=1)
    assert {selector: box(page, selector) for selector in fixed} == places
    screenshot(page, f"desktop-sidebar-end-{lang}")

    expect(page.locator(".group-title")).to_have_text(GROUPS[lang])
    groups = page.locator(".conversation-group")
    expect(groups.nth(0).locator(".conversation-link")).to_have_text([f"chat {n}" for n in range(5)])
    expect(groups.nth(1).locator(".conversation-link")).to_have_text([f"chat {n}" for n in range(5, 9)])
    expect(groups.nth(2).locator(".conversation-link")).to_have_count(10)
    scroller.evaluate("(list) => { list.scrollTop = 0; }")
    screenshot(page, f"desktop-sidebar-groups-{lang}")

    page.click("#more-conversations")
    expect(page.locator(".conversation-link")).to_have_count(52)
    expect(page.locator(".group-title")).to_have_text(GROUPS[lang])
    expect(groups.nth(3).locator(".conversation-link")).to_have_count(33)
    assert {selector: box(page, selector) for selector in fixed} == places


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_search_without_hits_says_nothing_was_found(page, server, lang):
    """No conversation matches: the list says so, rather than that there are no conversations."""
    open_chat(page, server, f"/?lang={lang}")
    import_conversations(page, ["apples and pears"])
    page.reload()
    expect(page.locator(".conversation-link")).to_have_count(1)
    page.fill("#search", "zebra")
    expect(page.locator("#no-conversations")).to_have_text(NOTHING_FOUND[lang])
    expect(page.locator(".conversation-link")).to_have_count(0)
    page.fill("#search", "")
    expect(page.locator(".conversation-link")).to_have_count(1)
    expect(page.locator("#no-conversations")).to_be_hidden()


def test_rename_and_delete_show_on_hover_or_keyboard_focus(page, server):
    """With a mouse a title gets its row's width; rename and delete show over its end on hover and on keyboard focus,
    and Tab reaches them."""
    open_chat(page, server)
    import_conversations(page, ["second", "a title long enough to need the whole width of the row"])
    page.reload()
    rows = page.locator(".conversation")
    expect(rows).to_have_count(2)
    page.mouse.move(DESKTOP["width"] - 10, DESKTOP["height"] - 10)
    first = rows.first
    assert first.locator(".conversation-link").bounding_box()["width"] == first.bounding_box()["width"]
    assert not first.evaluate(ACTIONS_SHOWN)
    first.hover()
    page.wait_for_function(f"({ACTIONS_SHOWN})(document.querySelector('.conversation'))")
    page.mouse.move(DESKTOP["width"] - 10, DESKTOP["height"] - 10)
    page.wait_for_function(f"!({ACTIONS_SHOWN})(document.querySelector('.conversation'))")

    page.focus("#search")
    page.keyboard.press("Tab")
    expect(first.locator(".conversation-link")).to_be_focused()
    assert first.evaluate(ACTIONS_SHOWN)
    page.keyboard.press("Tab")
    expect(first.get_by_role("button", name=re.compile("^Rename"))).to_be_focused()
    page.keyboard.press("Tab")
    expect(first.get_by_role("button", name=re.compile("^Delete"))).to_be_focused()
    assert first.evaluate(ACTIONS_SHOWN)
    page.keyboard.press("Enter")
    expect(page.locator("#confirm-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#confirm-dialog")).to_be_hidden()


def test_rename_and_delete_always_show_on_a_touch_screen(phone, server):
    """A touch screen has no hover: the actions stay visible beside the title, and a tap on them works."""
    open_chat(phone, server)
    import_conversations(phone, ["touch me"])
    phone.reload()
    phone.click("#open-sidebar")
    row = phone.locator(".conversation")
    expect(row).to_have_count(1)
    phone.wait_for_function("() => document.getAnimations().length === 0")
    assert row.evaluate(ACTIONS_SHOWN)
    assert row.locator(".conversation-link").bounding_box()["width"] < row.bounding_box()["width"] - 80
    row.get_by_role("button", name=re.compile("^Rename")).tap()
    expect(phone.locator(".rename-field")).to_be_focused()


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_long_title_stays_inside_the_delete_dialog(page, server, lang):
    """A 200-character title without a space wraps inside the confirmation, which keeps its buttons in view."""
    open_chat(page, server, f"/?lang={lang}")
    title = "https://example.org/" + "a" * 180
    import_conversations(page, [title])
    page.reload()
    page.locator(".conversation").get_by_role("button", name=re.compile(DELETE[lang])).click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#confirm-text")).to_contain_text(title)
    assert dialog.evaluate("(d) => d.scrollWidth <= d.clientWidth")
    outer = dialog.bounding_box()
    text = box(page, "#confirm-text")
    assert outer["x"] <= text["x"] and text["x"] + text["width"] <= outer["x"] + outer["width"]
    expect(dialog.get_by_role("button", name=DELETE[lang])).to_be_in_viewport(ratio=1)
    screenshot(page, f"desktop-delete-long-title-{lang}")
    page.keyboard.press("Escape")
