"""Headless Debian Chromium through Playwright, with the probe script injected before the page's own."""
import re
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
PROBE = Path(__file__).with_name("probe.js")
NAIVE = Path(__file__).with_name("naive-markdown.js")
# The page's Markdown module, not the copy that naive-markdown.js imports with a query string.
MARKDOWN_MODULE = re.compile(r"/static/markdown\.js$")


@contextmanager
def chromium():
    """A browser for the block; closed however the block ends."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def probed_page(browser, naive=False):
    """A page in a fresh context (no cache, no storage) carrying probe.js; `naive` swaps in naive-markdown.js."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.add_init_script(PROBE.read_text())
        if naive:
            page.route(MARKDOWN_MODULE, lambda route: route.fulfill(path=NAIVE))
        yield page
    finally:
        context.close()
