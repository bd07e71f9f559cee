"""Playwright driving Debian's Chromium for the page's tests: one browser per session, a fresh context per test."""
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Every wait in the browser tests is bounded by this (milliseconds).
WAIT_MS = 10_000


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    """Chromium with a fresh profile, shared by the session's browser tests."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


class PageErrors(list):
    """Uncaught exceptions and console errors of a page; a test fails when there are any."""

    def watch(self, page):
        """Start collecting from `page`."""
        page.on("pageerror", lambda error: self.append(f"uncaught: {error}"))
        page.on("console", lambda message: message.type == "error" and self.append(f"console: {message.text}"))


@pytest.fixture
def browser_context(chromium):
    """A fresh browser context (own cookies and storage) at desktop size."""
    context = chromium.new_context(viewport=DESKTOP, locale="en-US")
    context.set_default_timeout(WAIT_MS)
    yield context
    context.close()


@pytest.fixture
def page_errors():
    """What the test's page reported; a test that provokes errors on purpose removes those it expects."""
    return PageErrors()


@pytest.fixture
def page(browser_context, page_errors):
    """A page in a fresh context; the test fails if the page throws or logs an error."""
    page = browser_context.new_page()
    page_errors.watch(page)
    yield page
    assert not page_errors, f"the page reported errors: {page_errors}"


@pytest.fixture
def phone(chromium):
    """A page in a phone-sized touch context."""
    context = chromium.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="en-US")
    context.set_default_timeout(WAIT_MS)
    yield context.new_page()
    context.close()


def screenshot(page, name):
    """Save a screenshot of the page as a test artefact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def open_chat(page, server, path="/"):
    """Open the page and wait until its socket is connected and the providers are listed."""
    page.goto(server.url + path)
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    expect(page.locator("#provider option").first).to_be_attached()


def choose(page, provider="testing", model="echo"):
    """Pick a provider and a model."""
    page.select_option("#provider", provider)
    page.select_option("#model", model)


def send(page, text):
    """Type a message into the composer and press Enter."""
    page.fill("#input", text)
    page.press("#input", "Enter")


def answers(page):
    """The answers on the page."""
    return page.locator(".message.assistant")


def wait_until_idle(page):
    """Wait until no answer is streaming."""
    expect(page.locator("#send")).to_be_visible()
    expect(page.locator(".message.streaming")).to_have_count(0)


def start_counting(page, server):
    """Open the page and start a long answer from the slow model; returns once it is under way."""
    open_chat(page, server)
    choose(page, "testing", "slow")
    send(page, "count")
    expect(answers(page).last).to_contain_text("tick3")
