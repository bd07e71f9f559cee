"""Headless Debian Chromium through Playwright, with the probe script injected before the page's own."""
import re
import time
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
PROBE = Path(__file__).with_name("probe.js")
NAIVE = Path(__file__).with_name("naive-markdown.js")
# The page's Markdown module, not the copy that naive-markdown.js imports with a query string.
MARKDOWN_MODULE = re.compile(r"/static/markdown\.js$")
# A new context starts a renderer process, which keeps both cores busy for about half a second: a page opened
# meanwhile would be timed against the browser's own start-up. Idle means this share of the CPU idle...
IDLE_SHARE = 0.9
# ...over a window this long, waited for at most MAX_SETTLE_S.
IDLE_WINDOW_S = 0.1
MAX_SETTLE_S = 5.0


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


def cpu_times():
    """(idle, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(n) for n in open("/proc/stat").readline().split()[1:]]
    return fields[3] + fields[4], sum(fields)


def settle():
    """Wait until the machine is idle (see IDLE_SHARE), or MAX_SETTLE_S; returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < MAX_SETTLE_S:
        idle, total = cpu_times()
        time.sleep(IDLE_WINDOW_S)
        idle_after, total_after = cpu_times()
        if total_after > total and (idle_after - idle) / (total_after - total) >= IDLE_SHARE:
            break
    return time.monotonic() - started
