"""Shared presets on the page, with accounts, in English and Russian: an admin publishes one, another user sees and uses
it but cannot change it, and a demoted admin's page is refused in words, changing nothing."""
import json

import pytest
from browser import DESKTOP, WAIT_MS, choose, open_chat, screenshot, send, wait_until_idle
from playwright.sync_api import expect
from test_browser_accounts import sign_in
from test_browser_conversations import page_fetch
from test_roles import add, webui

WORDS = {
    "en": {
        "shared": "Pirates (from the server)",
        "share": "Share with everyone on this server",
        "saved": "Preset saved",
        "forbidden": "Only an administrator can change this.",
    },
    "ru": {
        "shared": "Pirates (с сервера)",
        "share": "Поделиться со всеми на этом сервере",
        "saved": "Пресет сохранён",
        "forbidden": "Это может изменить только администратор.",
    },
}


@pytest.fixture
def second_page(chromium, page_errors):
    """A page in a browser context of its own (its own cookies: another person), watched like `page`."""
    context = chromium.new_context(viewport=DESKTOP, locale="en-US")
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page_errors.watch(page)
    yield page
    context.close()


def presets(page):
    """The presets the page's user sees, by name: (shared, default)."""
    status, body = page_fetch(page, "GET", "/api/presets")
    assert status == 200, body
    return {p["name"]: (p["shared"], p["default"]) for p in json.loads(body)["presets"]}


def expect_refused_fetches(page_errors, count):
    """Drop the browser's console lines for `count` requests the server refused with 403, which the test provokes."""
    refused = [error for error in page_errors if "403" in error]
    assert len(refused) == count, page_errors
    for error in refused:
        page_errors.remove(error)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_an_admin_publishes_a_preset_that_another_user_sees_and_uses_but_cannot_change(
    app_config, server, page, second_page, page_errors, testing_provider, lang
):
    add(app_config, "alice")
    add(app_config, "bob")
    sign_in(page, server, "alice", lang)
    page.click("#settings-toggle")
    page.fill("#system-prompt", "Talk like a pirate.")
    page.fill("[data-option='seed']", "42")
    page.fill("#preset-name", "Pirates")
    expect(page.locator("#preset-share-new")).to_be_visible()
    page.click("#preset-save")
    expect(page.locator("#preset-status")).to_have_text(WORDS[lang]["saved"])
    assert presets(page) == {"Pirates": (False, False)}

    # On a new chat's screen the admin picks it and publishes it, takes it back, and publishes it again.
    page.click("#new-chat")
    page.select_option("#preset", label="Pirates")
    shared = page.locator("#preset-shared")
    expect(page.get_by_label(WORDS[lang]["share"]).last).to_be_visible()
    expect(shared).not_to_be_checked()
    shared.check()
    expect(page.locator("#preset option:checked")).to_have_text(WORDS[lang]["shared"])
    expect(shared).to_be_enabled()
    assert presets(page) == {"Pirates": (True, False)}
    shared.uncheck()
    expect(page.locator("#preset option:checked")).to_have_text("Pirates")
    assert presets(page) == {"Pirates": (False, False)}
    shared.check()
    expect(page.locator("#preset option:checked")).to_have_text(WORDS[lang]["shared"])
    expect(page.locator("#preset-delete")).to_be_visible()
    screenshot(page, f"preset-published-{lang}")

    # Another user sees it as the server's, uses it and makes it their default, with no control that changes it.
    bob = second_page
    sign_in(bob, server, "bob", lang)
    expect(bob.locator("#preset-picker")).to_be_visible()
    bob.select_option("#preset", label=WORDS[lang]["shared"])
    expect(bob.locator("#preset-actions")).to_be_visible()
    expect(bob.locator("#preset-shared")).to_be_hidden()
    expect(bob.locator("#preset-delete")).to_be_hidden()
    expect(bob.locator("#preset-share-new")).to_be_hidden()
    bob.click("#settings-toggle")
    expect(bob.locator("#system-prompt")).to_have_value("Talk like a pirate.")
    bob.check("#preset-is-default")
    # Disabled while the change is under way.
    expect(bob.locator("#preset-is-default")).to_be_enabled()
    expect(bob.locator("#preset-is-default")).to_be_checked()
    assert presets(bob) == {"Pirates": (True, True)}
    screenshot(bob, f"preset-from-the-server-{lang}")
    bob.reload()
    expect(bob.locator("#preset option:checked")).to_have_text(WORDS[lang]["shared"])
    expect(bob.locator("#system-prompt")).to_have_value("Talk like a pirate.")
    choose(bob, "testing", "echo")
    send(bob, "ahoy")
    wait_until_idle(bob)
    assert testing_provider().seen_messages[-1][0] == {"role": "system", "content": "Talk like a pirate."}
    assert testing_provider().seen_kwargs[-1] == {"seed": 42}

    # Were bob's page to try, the server refuses; the preset is as the admin left it.
    preset_id = bob.locator("#preset option", has_text="Pirates").get_attribute("value")
    for method, body in (("PATCH", {"system_prompt": "Mine now."}), ("PATCH", {"shared": False}), ("DELETE", None)):
        assert page_fetch(bob, method, f"/api/presets/{preset_id}", body)[0] == 403
    expect_refused_fetches(page_errors, 3)
    assert presets(page) == {"Pirates": (True, False)} and presets(bob) == {"Pirates": (True, True)}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_demoted_admins_page_is_refused_in_words_and_nothing_changes(app_config, server, page, page_errors, lang):
    add(app_config, "alice")
    add(app_config, "bob", "--admin")
    sign_in(page, server, "alice", lang)
    for body in ({"name": "Brief", "options": {"top_k": 5}}, {"name": "Pirates", "shared": True}):
        assert page_fetch(page, "POST", "/api/presets", body)[0] == 201
    open_chat(page, server, f"/?lang={lang}")
    page.select_option("#preset", label="Brief")
    expect(page.locator("#preset-shared")).to_be_visible()

    assert webui(app_config, "user", "demote", "alice").returncode == 0
    # The page still shows what an admin may do; the server says no, in the page's language.
    page.click("#preset-shared")
    expect(page.locator("#notice")).to_have_text(WORDS[lang]["forbidden"])
    expect(page.locator("#preset-shared")).to_be_hidden()
    expect(page.locator("#preset option:checked")).to_have_text("Brief")
    assert presets(page) == {"Brief": (False, False), "Pirates": (True, False)}
    # A shared preset is now out of reach: no delete button for it.
    page.select_option("#preset", label=WORDS[lang]["shared"])
    expect(page.locator("#preset-delete")).to_be_hidden()
    expect(page.locator("#preset-share-new")).to_be_hidden()
    screenshot(page, f"preset-demoted-{lang}")
    expect_refused_fetches(page_errors, 1)
