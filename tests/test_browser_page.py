"""The page's frame in a real browser: the header on desktop and phone, right-to-left text, and the manifest that lets
a phone install the page."""
import json
import re

import pytest
from browser import DESKTOP, PHONE, answers, choose, open_chat, phone, screenshot, send, wait_until_idle  # noqa: F401
from playwright.sync_api import expect

from test_browser_sidebar import app_config, box  # noqa: F401 (app_config is a fixture)

# The narrowest window that still shows the sidebar beside the conversation.
NARROW_DESKTOP = {"width": 780, "height": 700}
NEW_CHAT = {"en": "New chat", "ru": "Новый чат"}


def right_edge(page, selector):
    """Where an element ends on the right (the page clips its columns, so an overflow would not scroll)."""
    rect = box(page, selector)
    return rect["x"] + rect["width"]


def middle(rect):
    """The vertical centre of a bounding box."""
    return rect["y"] + rect["height"] / 2


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
