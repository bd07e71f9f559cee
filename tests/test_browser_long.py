"""Long answers render in slices: a 357 KB answer arriving in one burst, and a conversation holding one reopened,
never hold the page for long (Chromium's long-task observer), and end as a render of the whole text."""
import json

import pytest
from browser import answers, choose, open_chat, send, wait_until_idle
from playwright.sync_api import expect

from bench.providers.synthetic import SECTION
from test_browser_conversations import page_fetch

# Sections of the render benchmark's Markdown, 357 KB of them, as in issue 16's report.
SIZE = 357 * 1024
SECTIONS = SIZE // len(SECTION.format(n=100)) + 1
LONG = "".join(SECTION.format(n=n) for n in range(1, SECTIONS + 1))
# Chromium reports every task over 50 ms; the page's aim is 100 ms at most, and the bound leaves room for a busy
# machine (these tests share two cores with others).
LONGEST_TASK_MS = 200

BURST = f'''
url = "http://127.0.0.1/burst"
model = "long"
supports_stream = True
needs_auth = False


def _create_completion(model, messages, stream, **kwargs):
    yield {LONG!r}
'''

# Installed before the page's scripts: every long task of the page, with when it started.
WATCH_LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longTasks.push({ start: entry.startTime, duration: entry.duration });
}).observe({ type: "longtask", buffered: true });
"""

SAME_AS_WHOLE = """async (element) => {
  const { renderMarkdown } = await import("/static/markdown.js");
  const stored = await (await fetch(location.pathname.replace("/c/", "/api/conversations/"))).json();
  return element.innerHTML === renderMarkdown(document.createElement("div"), stored.messages.at(-1).content).innerHTML;
}"""


@pytest.fixture
def app_config(app_config, providers_dir):
    """The burst module answers with the long text in one chunk."""
    (providers_dir / "burst.py").write_text(BURST)
    return app_config


def long_tasks(page, since=0.0):
    """The page's long tasks that started after `since` (ms on the page's clock), longest first."""
    tasks = page.evaluate("window.__longTasks")
    return sorted((round(t["duration"]) for t in tasks if t["start"] >= since), reverse=True)


def fully_rendered(page):
    """Wait until the answer's last section is on the page as Markdown, its code highlighted."""
    content = answers(page).last.locator(".content")
    expect(content.locator("h2").last).to_have_text(f"Section {SECTIONS}", timeout=30_000)
    expect(content.locator("h2")).to_have_count(SECTIONS, timeout=30_000)
    expect(content.locator("pre code:has(.hljs-keyword)")).to_have_count(SECTIONS, timeout=30_000)
    return content


def test_a_long_answer_in_one_burst_renders_in_slices(page, server):
    page.add_init_script(WATCH_LONG_TASKS)
    open_chat(page, server)
    choose(page, "burst", "long")
    sent = page.evaluate("performance.now()")
    send(page, "everything at once")
    wait_until_idle(page)
    content = fully_rendered(page)
    shown = page.evaluate("performance.now()") - sent
    tasks = long_tasks(page, sent)
    print(f"burst of {len(LONG)} characters: shown whole within {shown:.0f} ms, long tasks {tasks} ms")
    assert not tasks or tasks[0] <= LONGEST_TASK_MS, tasks
    assert content.evaluate(SAME_AS_WHOLE)


def test_reopening_a_conversation_with_a_long_answer_renders_it_in_slices(page, server):
    open_chat(page, server)
    status, body = page_fetch(page, "POST", "/api/conversations/import", [{"role": "user", "content": "all of it"}, {"role": "assistant", "content": LONG}])
    assert status == 201, body
    page.add_init_script(WATCH_LONG_TASKS)
    page.goto(f"{server.url}/c/{json.loads(body)['id']}")
    content = fully_rendered(page)
    shown = page.evaluate("performance.now()")
    tasks = long_tasks(page)
    print(f"reopening {len(LONG)} characters: shown whole within {shown:.0f} ms of navigating, long tasks {tasks} ms")
    assert not tasks or tasks[0] <= LONGEST_TASK_MS, tasks
    assert content.evaluate(SAME_AS_WHOLE)
    expect(page.locator("#input")).to_be_editable()


# Blocks longer than a slice (a list, a code block), and link references defined far below their use.
HUGE_BLOCKS = (
    "See [the docs][docs].\n\n"
    + "".join(f"- item {n} with **bold** text\n" for n in range(2000))
    + "\n```python\n"
    + "".join(f"x_{n} = {n}\n" for n in range(4000))
    + "```\n\n"
    + LONG[:40_000]
    + "\n[docs]: https://example.invalid/docs\n"
)


def test_blocks_longer_than_a_slice_and_references_end_as_the_whole_render(page, server):
    open_chat(page, server)
    same = page.evaluate(
        """async (text) => {
          const { renderEachInSlices, renderMarkdown } = await import("/static/markdown.js");
          const box = document.body.appendChild(document.createElement("div"));
          const [renderer] = renderEachInSlices([[box, text, () => {}]]);
          await new Promise((done) => { renderer.whenFinished = done; });
          return box.innerHTML === renderMarkdown(document.createElement("div"), text).innerHTML;
        }""",
        HUGE_BLOCKS,
    )
    assert same
