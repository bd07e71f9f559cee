"""Stored conversations in a real browser, on SQLite and on PostgreSQL: sidebar, addresses, versions, settings,
errors, import."""
import json
import re
import time

import pytest
from browser import answers, choose, open_chat, screenshot, send, start_counting, wait_until_idle
from playwright.sync_api import expect

pytestmark = pytest.mark.both_databases

# The page's own fetch, so that requests carry its cookies, Origin and CSRF header.
PAGE_FETCH = """async ([method, path, body]) => {
  const token = document.querySelector('meta[name="csrf-token"]')?.content;
  const headers = { "Content-Type": "application/json", ...(token && { "X-CSRF-Token": token }) };
  const response = await fetch(path, { method, headers, body: body === null ? undefined : JSON.stringify(body) });
  return { status: response.status, body: await response.text() };
}"""


def page_fetch(page, method, path, body=None):
    """Call the server's API from the page; returns (status, text)."""
    result = page.evaluate(PAGE_FETCH, [method, path, body])
    return result["status"], result["body"]


def start_conversation(page, server, text="first question", model="echo", path="/"):
    """Open the page, send one message and wait for the answer; returns the conversation id from the address."""
    open_chat(page, server, path)
    choose(page, "testing", model)
    send(page, text)
    wait_until_idle(page)
    expect(page).to_have_url(re.compile(r"/c/[\w-]+$"))
    return page.url.rsplit("/", 1)[1]


def test_reload_finds_the_conversation(page, server):
    """After the first answer the address names the conversation; a reload shows it again, listed and highlighted."""
    conversation_id = start_conversation(page, server, "remember me please")
    page.reload()
    expect(page.locator(".message.user .content")).to_have_text("remember me please")
    expect(answers(page).locator(".content")).to_have_text("remember me please")
    current = page.locator(".conversation-link[aria-current='page']")
    expect(current).to_have_text("remember me please")
    expect(page.locator("#title")).to_have_text("remember me please")
    page.goto(server.url + "/")
    expect(page.locator(".message")).to_have_count(0)
    page.click(".conversation-link")
    expect(page).to_have_url(f"{server.url}/c/{conversation_id}")
    expect(page.locator(".message")).to_have_count(2)
    page.go_back()
    expect(page.locator(".message")).to_have_count(0)


def test_new_rename_search_and_delete(page, server):
    """Conversations can be started, renamed, found by their text and deleted after a confirmation."""
    start_conversation(page, server, "apples are red")
    page.click("#new-chat")
    expect(page).to_have_url(f"{server.url}/")
    send(page, "bananas are yellow")
    wait_until_idle(page)
    expect(page.locator(".conversation-link")).to_have_count(2)
    page.locator(".conversation", has_text="apples").get_by_role("button", name=re.compile("Rename")).click()
    page.fill(".rename-field", "Fruit notes")
    page.keyboard.press("Enter")
    expect(page.locator(".conversation-link", has_text="Fruit notes")).to_have_count(1)
    page.fill("#search", "yellow")
    expect(page.locator(".conversation-link")).to_have_text(["bananas are yellow"])
    page.fill("#search", "")
    expect(page.locator(".conversation-link")).to_have_count(2)
    page.locator(".conversation", has_text="bananas").get_by_role("button", name=re.compile("Delete")).click()
    expect(page.locator("#confirm-dialog")).to_be_visible()
    screenshot(page, "desktop-light-delete-dialog")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator(".conversation-link")).to_have_count(2)
    page.locator(".conversation", has_text="bananas").get_by_role("button", name=re.compile("Delete")).click()
    page.locator("#confirm-dialog").get_by_role("button", name="Delete").click()
    expect(page.locator(".conversation-link")).to_have_text(["Fruit notes"])
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator(".message")).to_have_count(0)


def test_a_title_being_typed_survives_the_list_refreshing(page, server):
    """An answer that ends while a title is being edited refreshes the list, but keeps the edit."""
    open_chat(page, server)
    choose(page, "testing", "stall")
    send(page, "wait for it")
    expect(page.locator(".conversation-link")).to_have_count(1)
    page.locator(".conversation").get_by_role("button", name=re.compile("Rename")).click()
    page.fill(".rename-field", "Typed while it streamed")
    wait_until_idle(page)
    expect(page.locator(".rename-field")).to_have_value("Typed while it streamed")
    page.keyboard.press("Enter")
    expect(page.locator(".conversation-link")).to_have_text(["Typed while it streamed"])


def test_regenerate_versions_and_edit(page, server):
    """Regenerate adds a version with a ‹ 1/2 › switcher; Edit & resend branches from a user message."""
    start_conversation(page, server, "one two three")
    page.get_by_role("button", name="Regenerate").click()
    wait_until_idle(page)
    versions = answers(page).last.locator(".versions")
    expect(versions).to_contain_text("2 / 2")
    versions.get_by_role("button", name="Previous version").click()
    expect(answers(page).last.locator(".versions")).to_contain_text("1 / 2")
    page.locator(".message.user").get_by_role("button", name="Edit").click()
    page.fill(".edit-field", "four five")
    page.get_by_role("button", name="Save and send").click()
    wait_until_idle(page)
    expect(answers(page).last.locator(".content")).to_have_text("four five")
    expect(page.locator(".message.user .versions")).to_contain_text("2 / 2")
    page.reload()
    expect(page.locator(".message.user .content")).to_have_text("four five")
    screenshot(page, "desktop-light-versions")


def test_continue_appends_to_a_stopped_answer(page, server):
    """Continue carries on a stopped answer in the same message."""
    start_counting(page, server)
    page.click("#stop")
    wait_until_idle(page)
    before = answers(page).last.locator(".content").inner_text().split()
    answers(page).last.get_by_role("button", name="Continue").click()
    expect(page.locator("#stop")).to_be_visible()
    # The slow model counts from 0 again; its new text comes after the old.
    expect(answers(page).last).to_contain_text("tick2")
    page.wait_for_function("() => document.querySelector('.message.assistant .content').innerText.split('tick0').length > 2")
    page.click("#stop")
    wait_until_idle(page)
    after = answers(page).last.locator(".content").inner_text().split()
    assert after[: len(before)] == before and after[len(before)] == "tick0"
    expect(answers(page)).to_have_count(1)


def test_settings_are_remembered_and_used(page, server, testing_provider):
    """The settings panel saves temperature and system prompt with the conversation; the next answer uses them."""
    start_conversation(page, server, "hello")
    page.click("#settings-toggle")
    page.fill("#system-prompt", "Answer like a pirate.")
    page.fill("[data-option='temperature']", "0.3")
    page.fill("[data-option='max_tokens']", "64")
    expect(page.locator("#settings-saved")).to_have_text("Saved")
    page.reload()
    page.click("#settings-toggle")
    expect(page.locator("#system-prompt")).to_have_value("Answer like a pirate.")
    expect(page.locator("[data-option='temperature']")).to_have_value("0.3")
    send(page, "again")
    wait_until_idle(page)
    assert testing_provider().seen_kwargs[-1] == {"temperature": 0.3, "max_tokens": 64}
    page.fill("[data-option='temperature']", "7")
    assert page.evaluate("document.querySelector(\"[data-option='temperature']\").checkValidity()") is False
    href = page.locator("#export a[data-export='json']").get_attribute("href")
    status, body = page_fetch(page, "GET", href)
    assert status == 200 and json.loads(body)["system_prompt"] == "Answer like a pirate."


def test_errors_show_in_the_page_language_with_retry(page, server):
    """A provider failure shows the server's message in Russian next to the answer, with a Retry that regenerates."""
    open_chat(page, server, "/?lang=ru")
    choose(page, "testing", "fail_midway")
    send(page, "сломайся")
    wait_until_idle(page)
    error = answers(page).last.locator(".message-error")
    expect(error).to_contain_text(re.compile("[а-яА-Я]"))
    expect(answers(page).last.locator(".content")).to_have_text("partial answer")
    screenshot(page, "desktop-light-error-ru")
    error.get_by_role("button", name="Повторить").click()
    wait_until_idle(page)
    expect(answers(page).last.locator(".versions")).to_contain_text("2 / 2")


def test_a_thousand_messages_open_quickly(page, server):
    """A conversation of a thousand messages shows its end at once and renders the rest in idle time."""
    open_chat(page, server)
    messages = [
        {"role": "user" if n % 2 == 0 else "assistant", "content": f"message {n}\n\n**bold** and `code` and $x_{n}$"}
        for n in range(1000)
    ]
    status, body = page_fetch(page, "POST", "/api/conversations/import", messages)
    assert status == 201, body
    started = time.monotonic()
    page.goto(f"{server.url}/c/{json.loads(body)['id']}")
    expect(page.locator(".message").last.locator("strong")).to_be_visible()
    expect(page.locator(".message").last).to_be_in_viewport()
    assert time.monotonic() - started < 3
    expect(page.locator(".message")).to_have_count(1000)
    expect(page.locator(".message.assistant .content.raw")).to_have_count(0)


def test_import_a_file_and_export_links(page, server):
    """Importing a JSON file opens it; a bad file gets an error message and nothing is stored."""
    open_chat(page, server)
    exported = [{"role": "user", "content": "imported question"}, {"role": "assistant", "content": "imported *answer*"}]
    page.set_input_files("#import", files=[{"name": "chat.json", "mimeType": "application/json", "buffer": json.dumps(exported).encode()}])
    expect(page.locator(".message.assistant em")).to_have_text("answer")
    expect(page).to_have_url(re.compile(r"/c/[\w-]+$"))
    expect(page.locator(".conversation-link")).to_have_count(1)
    page.set_input_files("#import", files=[{"name": "broken.json", "mimeType": "application/json", "buffer": b"{not json"}])
    expect(page.locator("#notice")).to_contain_text("broken.json")
    expect(page.locator(".conversation-link")).to_have_count(1)
    page.click("#settings-toggle")
    for link in ("json", "md"):
        status, _ = page_fetch(page, "GET", page.locator(f"#export a[data-export='{link}']").get_attribute("href"))
        assert status == 200


def test_qr_code_for_the_lan_address(page, server):
    """With a LAN address in data-lan-url the page offers a QR code of it; without one the button stays hidden."""
    open_chat(page, server)
    expect(page.locator("#show-qr")).to_be_hidden()

    # What the server renders when it listens on the network; set before the page's scripts run.
    page.add_init_script(
        """document.addEventListener("readystatechange", () => {
          if (document.readyState === "interactive") document.body.dataset.lanUrl = "http://192.168.1.20:1338/";
        })"""
    )
    open_chat(page, server)
    fetched = "() => performance.getEntriesByType('resource').some((entry) => entry.name.endsWith('/qrcode.js'))"
    assert not page.evaluate(fetched), "the encoder is fetched on the first click, not with the page"
    page.click("#show-qr")
    expect(page.locator("#qr-dialog")).to_be_visible()
    expect(page.locator("#qr-url")).to_have_text("http://192.168.1.20:1338/")
    assert page.locator("#qr-code svg path").get_attribute("d").count("h1v1") > 100
    screenshot(page, "desktop-light-qr")


def test_check_providers_shows_which_answer(page, server):
    """The Check providers button lists every provider with ok and timings, or the reason it failed."""
    open_chat(page, server)
    page.click("#check-providers")
    expect(page.locator("#check-dialog")).to_be_visible()
    expect(page.locator("#check-results li").first).to_be_visible(timeout=60_000)
    works = page.locator("#check-results li.check-ok", has_text="testing:")
    expect(works).to_contain_text("chunks/s")
    expect(page.locator("#check-results li.check-failed", has_text="broken_module:")).to_contain_text("a_package_that_is_not_installed")
    screenshot(page, "desktop-light-check")
