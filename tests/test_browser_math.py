"""KaTeX and highlight.js in a real browser, both loaded after the page's first render: KaTeX only once some text has
math. What was rendered before they had loaded is typeset or highlighted in place."""
import json

from browser import choose, open_chat, send
from playwright.sync_api import expect
from test_browser import DANGEROUS
from test_browser_conversations import page_fetch

KATEX_FETCHED = "(name) => performance.getEntriesByType('resource').some((entry) => entry.name.endsWith('/' + name))"
# KaTeX's stylesheet hides the MathML copy of each formula, which is there for screen readers.
MATHML_HIDDEN = "() => [...document.querySelectorAll('.katex-mathml')].every((m) => getComputedStyle(m).position === 'absolute')"
# Inline and display math, and TeX that must stay inert once typeset.
MATH = "inline $x^2$ here\n\n$$\\frac{1}{2}$$\n\nand $\\href{javascript:window.__pwned=true}{x}$"


def open_imported(page, server, messages):
    """Store `messages` as a conversation and open it at its address."""
    status, body = page_fetch(page, "POST", "/api/conversations/import", messages)
    assert status == 201, body
    page.goto(f"{server.url}/c/{json.loads(body)['id']}")


def test_katex_is_fetched_only_for_a_conversation_with_math(page, server):
    """Without math the page never fetches KaTeX; a conversation with math ends typeset, no source left showing."""
    open_chat(page, server)
    open_imported(page, server, [{"role": "user", "content": "q"}, {"role": "assistant", "content": "no **math** here, $5 and $10"}])
    expect(page.locator(".message.assistant strong")).to_have_text("math")
    page.wait_for_timeout(300)
    assert not page.evaluate(KATEX_FETCHED, "katex.js") and not page.evaluate(KATEX_FETCHED, "katex.min.css")
    open_imported(page, server, [{"role": "user", "content": "q"}, {"role": "assistant", "content": MATH}])
    answer = page.locator(".message.assistant .content")
    expect(answer.locator(".katex")).to_have_count(3)
    expect(answer.locator(".katex-display")).to_have_count(1)
    expect(answer.locator(".math-loading")).to_have_count(0)
    assert page.evaluate(KATEX_FETCHED, "katex.js") and page.evaluate(MATHML_HIDDEN)
    assert page.locator(f"#messages :is({DANGEROUS})").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_formulas_rendered_before_katex_loads_are_typeset_in_place(page, server):
    """A render and a stream (its blocks settled one by one) made before KaTeX has loaded show the source, then
    the formulas, and say that they changed once."""
    open_chat(page, server)
    before = page.evaluate(
        """async (text) => {
          const { renderMarkdown, StreamRenderer } = await import("/static/markdown.js");
          window.typeset = { whole: 0, stream: 0 };
          const whole = document.body.appendChild(document.createElement("div"));
          whole.id = "whole";
          renderMarkdown(whole, text, { onChange: () => window.typeset.whole++ });
          const streamed = document.body.appendChild(document.createElement("div"));
          streamed.id = "streamed";
          const renderer = new StreamRenderer(streamed, { onRendered: () => window.typeset.stream++ });
          renderer.append(text + "\\n\\nlast line");
          renderer.finish();
          window.typeset.stream = 0;
          return [whole, streamed].map((box) => [box.querySelectorAll(".math-loading").length, box.querySelectorAll(".katex").length]);
        }""",
        MATH,
    )
    assert before == [[3, 0], [3, 0]]
    for box in ("#whole", "#streamed"):
        expect(page.locator(f"{box} .katex")).to_have_count(3)
        expect(page.locator(f"{box} .katex-display")).to_have_count(1)
        expect(page.locator(f"{box} .math-loading")).to_have_count(0)
    assert page.evaluate("window.typeset") == {"whole": 1, "stream": 1}
    assert page.locator(f"#whole :is({DANGEROUS}), #streamed :is({DANGEROUS})").count() == 0
    assert page.evaluate("window.__pwned") is None


# highlight.js held back until the test releases it: a module that waits, then passes the real one on.
HELD_HIGHLIGHTER = (
    "await new Promise((release) => { window.releaseHighlighter = release; });\n"
    'export { default } from "/static/vendor/highlight.js/highlight.js?held";\n'
)


def test_code_rendered_before_highlight_js_loads_is_highlighted_in_place(page, server):
    """An answer opened before highlight.js has loaded shows its code plain, then highlighted, its Copy button kept."""
    page.route("**/vendor/highlight.js/highlight.js", lambda route: route.fulfill(body=HELD_HIGHLIGHTER, content_type="text/javascript"))
    open_chat(page, server)
    answer = "Here:\n\n```python\ndef square(x):\n    return x * x\n```\n\nand `inline` code."
    open_imported(page, server, [{"role": "user", "content": "q"}, {"role": "assistant", "content": answer}])
    code = page.locator(".message.assistant pre code")
    expect(code).to_have_text("def square(x):\n    return x * x\n")
    assert code.locator("span").count() == 0
    page.wait_for_function("() => typeof window.releaseHighlighter === 'function'")
    page.evaluate("window.releaseHighlighter()")
    expect(code.locator(".hljs-keyword").first).to_have_text("def")
    expect(code).to_have_text("def square(x):\n    return x * x\n")
    expect(page.locator(".message.assistant pre .copy-code")).to_have_count(1)


def test_highlight_js_that_failed_to_load_is_fetched_again_by_the_next_code(page, server, page_errors):
    """The idle-time import of highlight.js fails (a dropped connection): the next answer with code fetches it again
    and is highlighted, instead of staying plain until a reload."""
    fetched = []

    def fail_once(route):
        """The first fetch fails; the next ones reach the server."""
        fetched.append(route.request.url)
        route.abort() if len(fetched) == 1 else route.continue_()

    page.route("**/vendor/highlight.js/highlight.js", fail_once)
    with page.expect_event("requestfailed", predicate=lambda request: "highlight.js" in request.url):
        open_chat(page, server)
    choose(page, "testing", "markdown")
    send(page, "an answer with code")
    code = page.locator(".message.assistant pre code")
    expect(code.locator(".hljs-keyword").first).to_have_text("def")
    expect(code).to_have_text("def square(x):\n    return x * x  # the answer\n")
    assert len(fetched) == 2
    # The browser logs the failed fetch.
    page_errors[:] = [error for error in page_errors if "net::ERR_FAILED" not in error]
