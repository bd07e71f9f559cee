"""The page's frame in a real browser: the sidebar's fixed ends and date groups, row actions, the delete dialog, the
header on desktop and phone, right-to-left text, and the manifest that lets a phone install the page."""
import json
import re
import sqlite3
from datetime import datetime, timedelta

import pytest
from browser import DESKTOP, PHONE, answers, choose, open_chat, phone, screenshot, send, wait_until_idle  # noqa: F401
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
# The narrowest window that still shows the sidebar beside the conversation.
NARROW_DESKTOP = {"width": 780, "height": 700}
NOTHING_FOUND = {"en": "Nothing found", "ru": "Ничего не найдено"}
NEW_CHAT = {"en": "New chat", "ru": "Новый чат"}
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


def box(page, selector):
    """A visible element's bounding box."""
    return page.locator(selector).bounding_box()


def right_edge(page, selector):
    """Where an element ends on the right (the page clips its columns, so an overflow would not scroll)."""
    rect = box(page, selector)
    return rect["x"] + rect["width"]


def middle(rect):
    """The vertical centre of a bounding box."""
    return rect["y"] + rect["height"] / 2


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


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_header_shows_the_title_while_the_first_answer_streams(page, server, lang):
    """As soon as the conversation exists, the header and the tab show its title, not "New conversation"."""
    open_chat(page, server, f"/?lang={lang}")
    choose(page, "testing", "slow")
    send(page, "Plans for the weekend")
    expect(answers(page).last).to_contain_text("tick3")
    expect(page.locator(".conversation-link")).to_have_text(["Plans for the weekend"])
    expect(page.locator("#title")).to_have_text("Plans for the weekend")
    expect(page).to_have_title(re.compile("^Plans for the weekend · "))
    expect(page.locator("#stop")).to_be_visible()
    page.click("#stop")
    wait_until_idle(page)
    expect(page.locator("#title")).to_have_text("Plans for the weekend")


DIRECTION = "(element) => getComputedStyle(element).direction"


def test_right_to_left_text_reads_right_to_left(page, server, browser_context, chromium):
    """Hebrew and Arabic messages, answers and titles run right to left, on the server's copy too; English stays left
    to right."""
    open_chat(page, server)
    choose(page, "testing", "echo")
    send(page, "שלום, מה שלומך?")
    wait_until_idle(page)
    send(page, "hello there")
    wait_until_idle(page)
    for element in (page.locator(".message.user .content").first, answers(page).first.locator(".content"),
                    page.locator(".conversation-link"), page.locator("#title")):
        assert element.evaluate(DIRECTION) == "rtl"
    assert page.locator(".message.user .content").last.evaluate(DIRECTION) == "ltr"
    assert answers(page).last.locator(".content").evaluate(DIRECTION) == "ltr"
    page.fill("#input", "مرحبا")
    assert page.locator("#input").evaluate(DIRECTION) == "rtl"

    # Without scripts the page shows the server's copy of the conversation's end.
    plain = chromium.new_context(storage_state=browser_context.storage_state(), java_script_enabled=False)
    try:
        static = plain.new_page()
        static.goto(page.url)
        opening = static.locator(".opening-messages .content")
        expect(opening).to_have_count(4)
        assert [opening.nth(n).evaluate(DIRECTION) for n in range(4)] == ["rtl", "rtl", "ltr", "ltr"]
        assert static.locator("#title").evaluate(DIRECTION) == "rtl"
    finally:
        plain.close()


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_settings_stay_on_the_first_row_of_a_narrow_desktop_header(chromium, server, lang):
    """At 780 px wide the title and Settings share the first row and the pickers take the second; at 1280 px it is
    all one row."""
    context = chromium.new_context(viewport=NARROW_DESKTOP, locale="en-US")
    try:
        page = context.new_page()
        open_chat(page, server, f"/?lang={lang}")
        title, settings, picker = box(page, "#title"), box(page, "#settings-toggle"), box(page, "#provider")
        assert abs(middle(settings) - middle(title)) < 4
        assert picker["y"] >= settings["y"] + settings["height"]
        assert right_edge(page, "#settings-toggle") <= NARROW_DESKTOP["width"] and right_edge(page, "#model") <= NARROW_DESKTOP["width"]
        screenshot(page, f"desktop-780-header-{lang}")
        page.set_viewport_size(DESKTOP)
        page.wait_for_function("() => innerWidth === 1280")
        title, settings, picker = box(page, "#title"), box(page, "#settings-toggle"), box(page, "#provider")
        assert abs(middle(settings) - middle(title)) < 4 and abs(middle(picker) - middle(title)) < 4
        assert picker["x"] < settings["x"]
        expect(page.locator("#header-new-chat")).to_be_hidden()
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_phone_header_starts_a_new_chat(phone, server, lang):
    """At phone width the header has a New chat button beside Settings on the first row; it starts an empty chat."""
    open_chat(phone, server, f"/?lang={lang}")
    choose(phone, "testing", "echo")
    send(phone, "first on the phone")
    wait_until_idle(phone)
    expect(phone).to_have_url(re.compile(r"/c/[\w-]+$"))
    new_chat = phone.get_by_role("button", name=NEW_CHAT[lang], exact=True)
    expect(new_chat).to_be_visible()
    title, button, settings = box(phone, "#title"), new_chat.bounding_box(), box(phone, "#settings-toggle")
    assert abs(middle(button) - middle(title)) < 4 and abs(middle(settings) - middle(title)) < 4
    assert button["height"] >= 43.5 and button["width"] >= 43.5
    assert right_edge(phone, "#settings-toggle") <= PHONE["width"] and right_edge(phone, "#model") <= PHONE["width"]
    screenshot(phone, f"phone-header-{lang}")
    new_chat.tap()
    expect(phone).to_have_url(f"{server.url}/")
    expect(phone.locator(".message")).to_have_count(0)
    expect(phone.locator("#input")).to_be_focused()
    send(phone, "second on the phone")
    wait_until_idle(phone)
    phone.click("#open-sidebar")
    expect(phone.locator(".conversation-link")).to_have_count(2)


def test_the_manifest_lets_a_phone_install_the_page(page, server):
    """The page links a web app manifest, served as one and allowed by the page's policy, whose icons load at the
    sizes it gives, one of them maskable."""
    open_chat(page, server)
    href = page.locator("link[rel='manifest']").evaluate("(link) => link.href")
    response = page.request.get(href)
    assert response.status == 200
    assert response.headers["content-type"].split(";")[0] == "application/manifest+json"
    manifest = json.loads(response.text())
    assert manifest["name"] and manifest["short_name"] and manifest["display"] == "standalone"
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["theme_color"]) and re.fullmatch(r"#[0-9a-f]{6}", manifest["background_color"])
    # Relative to the manifest, so that an app served under a path prefix starts at its own root.
    assert page.evaluate("(href) => new URL('../', href).href", href) == f"{server.url}/"
    assert manifest["start_url"] == manifest["scope"] == "../"

    # Chromium's own reading of the manifest the page links: no error, and the policy let it be fetched.
    parsed = page.context.new_cdp_session(page).send("Page.getAppManifest")
    assert parsed["errors"] == [] and parsed["url"] == href and json.loads(parsed["data"]) == manifest

    icons = manifest["icons"]
    assert {icon["purpose"] for icon in icons} >= {"any", "maskable"}
    assert {"192x192", "512x512"} <= {icon["sizes"] for icon in icons}
    for icon in icons:
        url = page.evaluate("([src, base]) => new URL(src, base).href", [icon["src"], href])
        size = page.evaluate(
            """(url) => new Promise((resolve, reject) => {
              const image = new Image();
              image.onload = () => resolve(`${image.naturalWidth}x${image.naturalHeight}`);
              image.onerror = () => reject(new Error(`${url} did not load`));
              image.src = url;
            })""",
            url,
        )
        assert size == icon["sizes"]
        assert page.request.get(url).headers["content-type"] == icon["type"] == "image/png"
