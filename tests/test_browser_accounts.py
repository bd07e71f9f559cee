"""Accounts on the page in a real browser, in English and in Russian: who is signed in, signing out everywhere, and
only an administrator is shown the way to Connections."""
import pytest
from browser import open_chat, screenshot
from playwright.sync_api import expect
from test_auth import PASSWORD, add_user
from test_browser_connections import WORDS


def sign_in(page, server, name, lang):
    """Sign in through the sign-in form, then open the chat page."""
    page.goto(f"{server.url}/login?lang={lang}")
    page.fill("input[name='username']", name)
    page.fill("input[name='password']", PASSWORD)
    page.click("button[type='submit']")
    open_chat(page, server, f"/?lang={lang}")


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_signed_in_user_sees_who_they_are_and_signs_out_from_the_page(page, app_config, server, lang):
    add_user(app_config, "alice")
    add_user(app_config, "bob")
    sign_in(page, server, "bob", lang)
    form = page.locator("#sign-out")
    expect(form).to_contain_text(WORDS[lang]["signed_in"])
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    screenshot(page, f"sign-out-{lang}")
    form.get_by_role("button", name=WORDS[lang]["sign_out"]).click()
    page.wait_for_url(f"{server.url}/login")
    assert page.context.request.get(f"{server.url}/api/conversations").status == 401
    page.goto(f"{server.url}/")
    page.wait_for_url(f"{server.url}/login?next=/")


def test_without_accounts_the_page_offers_no_sign_out(page, server):
    open_chat(page, server)
    expect(page.locator("#sign-out")).to_have_count(0)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_only_an_admin_sees_the_way_to_connections(page, app_config, server, lang):
    add_user(app_config, "alice")  # the first account is an admin
    add_user(app_config, "bob")
    sign_in(page, server, "bob", lang)
    for entry in ("#open-connections", "#connections", "[data-open-connections]"):
        expect(page.locator(entry)).to_have_count(0)
    expect(page.locator("#model-note")).to_contain_text(WORDS[lang]["admin_line"])
    # Only the server's operator can set the models folder: a user is not told about it.
    expect(page.locator("#first-run > *")).to_have_text(WORDS[lang]["admin_first_run"])
    page.click("#settings-toggle")
    expect(page.locator("#settings")).to_be_visible()
    screenshot(page, f"connections-not-admin-{lang}")

    page.context.clear_cookies()
    sign_in(page, server, "alice", lang)
    expect(page.locator("#model-note a[data-open-connections]")).to_be_attached()
    page.locator("#first-run a[data-open-connections]").click()
    expect(page.locator("#connections")).to_be_visible()
