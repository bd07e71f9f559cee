"""The page's dialogs in a real browser: how they close, and what closes with them."""
from browser import open_chat, phone  # noqa: F401 (fixture)
from playwright.sync_api import expect


def test_esc_in_a_dialog_opened_from_the_phone_drawer_closes_the_dialog_alone(phone, server):
    open_chat(phone, server)
    phone.click("#open-sidebar")
    expect(phone.locator("#sidebar")).to_be_visible()
    for opener, dialog in (("#check-providers", "#check-dialog"), ("#open-api-tokens", "#api-tokens")):
        phone.click(opener)
        expect(phone.locator(dialog)).to_be_visible()
        phone.keyboard.press("Escape")
        expect(phone.locator(dialog)).to_be_hidden()
        expect(phone.locator("body")).to_have_class("drawer-open")
        expect(phone.locator("#sidebar")).to_be_visible()
    # With no dialog open, Esc closes the drawer.
    phone.keyboard.press("Escape")
    expect(phone.locator("#sidebar")).to_be_hidden()
