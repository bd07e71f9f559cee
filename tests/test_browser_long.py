"""Long answers render in slices: a 357 KB answer arriving in one burst, and a conversation holding one reopened,
are rendered a bounded slice per task (never the whole text in one), and end as a render of the whole text. How long
those tasks take is figure 5's and 6's measure (bench/), not a test's."""
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
# No task renders more than the renderer's largest slice (SLICE_BOUNDS in static/markdown.js, 32,000 characters),
# ended at a line's end: that many characters of whole sections, one cut at each end.
MOST_SECTIONS_A_TASK = 32_000 // len(SECTION.format(n=100)) + 2
BURST = f'''
url = "http://127.0.0.1/burst"
model = "long"
supports_stream = True
needs_auth = False


def _create_completion(model, messages, stream, **kwargs):
    yield {LONG!r}
'''

# At the end of every task that changed the page, how many sections the last answer shows.
WATCH_RENDER_STEPS = """
window.__sectionsShown = [];
new MutationObserver(() => {
  const content = [...document.querySelectorAll(".message.assistant .content")].at(-1);
  if (content) window.__sectionsShown.push(content.querySelectorAll("h2").length);
}).observe(document, { childList: true, subtree: true });
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


def render_steps(page):
    """How many sections each task that added some added, in order."""
    shown = page.evaluate("window.__sectionsShown")
    return [later - earlier for earlier, later in zip([0, *shown], shown) if later > earlier]


def assert_rendered_in_slices(page):
    steps = render_steps(page)
    print(f"{SECTIONS} sections rendered in {len(steps)} tasks, the most in one {max(steps)}")
    assert sum(steps) >= SECTIONS and len(steps) > 1, steps
    assert max(steps) <= MOST_SECTIONS_A_TASK, steps


def fully_rendered(page):
    """Wait until the answer's last section is on the page as Markdown, its code highlighted."""
    content = answers(page).last.locator(".content")
    expect(content.locator("h2").last).to_have_text(f"Section {SECTIONS}", timeout=30_000)
    expect(content.locator("h2")).to_have_count(SECTIONS, timeout=30_000)
    expect(content.locator("pre code:has(.hljs-keyword)")).to_have_count(SECTIONS, timeout=30_000)
    return content


def test_a_long_answer_in_one_burst_renders_in_slices(page, server):
    page.add_init_script(WATCH_RENDER_STEPS)
    open_chat(page, server)
    choose(page, "burst", "long")
    send(page, "everything at once")
    wait_until_idle(page)
    content = fully_rendered(page)
    assert_rendered_in_slices(page)
    assert content.evaluate(SAME_AS_WHOLE)


def test_reopening_a_conversation_with_a_long_answer_renders_it_in_slices(page, server):
    open_chat(page, server)
    status, body = page_fetch(page, "POST", "/api/conversations/import", [{"role": "user", "content": "all of it"}, {"role": "assistant", "content": LONG}])
    assert status == 201, body
    page.add_init_script(WATCH_RENDER_STEPS)
    page.goto(f"{server.url}/c/{json.loads(body)['id']}")
    content = fully_rendered(page)
    assert_rendered_in_slices(page)
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
