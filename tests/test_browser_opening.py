"""A stored conversation opened in a real browser: the address names it at once, its messages are rendered a few at a
time, their answers sanitized in one pass, and each ends as the render of its own text; one overtaken by another
while it loads changes nothing when it ends."""
import json
import re

import pytest
from browser import WAIT_MS, open_chat, send, wait_until_idle
from playwright.sync_api import expect
from test_browser import DANGEROUS
from test_browser_conversations import page_fetch, start_conversation
from test_browser_render import ANSWER

# Answers whose HTML could spill into a neighbour's if it were not each its own: literal tags (escaped by
# markdown-it), an open list, code, a table, hostile markup, and one longer than a slice (rendered on its own).
ANSWERS = [
    ANSWER,
    "text with a literal </div> and <div> in it",
    "- an open list\n- with **bold",
    "Here: <img src=x onerror=\"window.__pwned=true\"> and [a link](javascript:window.__pwned=true)",
    "```js\nconst x = '</div>';\n```",
    "| a |\n| - |\n| </td></tr></table> |",
    "plain words " * 900,
]
# Every message's content against a render of its own text alone; the indexes that differ.
MISMATCHES = """async (texts) => {
  const { renderMarkdown } = await import("/static/markdown.js");
  const contents = [...document.querySelectorAll("#messages .message.assistant .content")];
  if (contents.length !== texts.length) return ["count " + contents.length];
  return texts.flatMap((text, index) =>
    contents[index].innerHTML === renderMarkdown(document.createElement("div"), text).innerHTML ? [] : [index]);
}"""


def test_every_answer_of_an_opened_conversation_is_the_render_of_its_own_text(page, server):
    texts = [ANSWERS[n % len(ANSWERS)] + f"\n\nanswer {n}" for n in range(40)]
    messages = [message for n, text in enumerate(texts) for message in ({"role": "user", "content": f"question {n}"},
                                                                         {"role": "assistant", "content": text})]
    open_chat(page, server)
    status, body = page_fetch(page, "POST", "/api/conversations/import", messages)
    assert status == 201, body
    page.goto(f"{server.url}/c/{json.loads(body)['id']}")
    # Rendered in idle time, the code highlighted once highlight.js has loaded: the last differences go.
    page.wait_for_function("() => !document.querySelector('#messages .message .raw')")
    mismatches = page.evaluate(MISMATCHES, texts)
    for _ in range(50):
        if not mismatches:
            break
        page.wait_for_timeout(100)
        mismatches = page.evaluate(MISMATCHES, texts)
    assert mismatches == []
    assert page.locator(f"#messages :is({DANGEROUS})").count() == 0
    assert page.evaluate("window.__pwned") is None


@pytest.mark.parametrize(
    ("htmls", "texts"),
    [
        (["<p>one</p>", "<em>two</em>", "three"], ["one", "two", "three"]),
        # A stray end tag would close its wrapper early: each is sanitized alone instead.
        (["a</div>b", "<em>c</em>"], ["ab", "c"]),
        (["<div>open", "<p>next</p>"], ["open", "next"]),
        (["<b>kept</b><script>alert(1)</script>", "<a href='javascript:alert(1)'>link</a>"], ["kept", "link"]),
    ],
    ids=["balanced", "stray end tag", "unclosed element", "hostile"],
)
def test_html_sanitized_together_is_what_each_gives_alone(page, server, htmls, texts):
    open_chat(page, server)
    result = page.evaluate(
        """async (htmls) => {
          const { sanitizeEach } = await import("/static/sanitize.js");
          const DOMPurify = (await import("/static/vendor/dompurify/purify.js")).default;
          const html = (nodes) => { const div = document.createElement("div"); div.append(...nodes); return div.innerHTML; };
          const alone = htmls.map((one) => html(DOMPurify.sanitize(one, { RETURN_DOM_FRAGMENT: true }).childNodes));
          const together = sanitizeEach(htmls);
          return { texts: together.map((node) => node.textContent), same: together.map((node, i) => html(node.childNodes) === alone[i]),
                   dangerous: together.some((node) => node.querySelector?.("script, a[href^='javascript:' i]")) };
        }""",
        htmls,
    )
    assert result == {"texts": texts, "same": [True] * len(htmls), "dangerous": False}


def test_the_address_names_a_conversation_opened_from_the_list_before_it_has_loaded(page, server, page_errors):
    conversation_id = start_conversation(page, server, "remember me please")
    page.click("#new-chat")
    expect(page).to_have_url(f"{server.url}/")
    # The conversation's answer from the server is held back: the address must not wait for it.
    held = []
    page.route(f"**/api/conversations/{conversation_id}", lambda route: held.append(route))
    page.click(".conversation-link")
    expect(page).to_have_url(f"{server.url}/c/{conversation_id}")
    expect(page.locator(".message")).to_have_count(0)
    # The request may reach the route just after the address changed: the handler runs while Playwright waits.
    for _ in range(WAIT_MS // 10):
        if held:
            break
        page.wait_for_timeout(10)
    held[0].continue_()
    expect(page.locator(".message")).to_have_count(2)
    # One that cannot be opened leaves the address of the new chat shown instead.
    page.click("#new-chat")
    page.unroute(f"**/api/conversations/{conversation_id}")
    page.route(f"**/api/conversations/{conversation_id}", lambda route: route.fulfill(status=404, json={"error": {"message": "gone"}}))
    page.click(".conversation-link")
    expect(page.locator("#notice")).to_have_text("This conversation does not exist or was deleted.")
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator(".message")).to_have_count(0)
    page_errors[:] = [error for error in page_errors if "status of 404" not in error]


@pytest.mark.parametrize("answer", ["404", "500", "late"])
def test_an_open_overtaken_by_another_changes_nothing_when_it_ends(page, server, page_errors, answer):
    """A conversation still loading when another is chosen: its failure (or its late arrival) leaves the other shown."""
    slow = start_conversation(page, server, "apples")
    page.click("#new-chat")
    send(page, "bananas")
    wait_until_idle(page)
    expect(page).to_have_url(re.compile(r"/c/[\w-]+$"))
    quick = page.url.rsplit("/", 1)[1]
    page.click("#new-chat")
    held = []
    page.route(f"**/api/conversations/{slow}", lambda route: held.append(route))
    page.locator(".conversation-link", has_text="apples").click()
    expect(page).to_have_url(f"{server.url}/c/{slow}")
    for _ in range(WAIT_MS // 10):
        if held:
            break
        page.wait_for_timeout(10)
    page.locator(".conversation-link", has_text="bananas").click()
    shown = page.locator(".message .content")
    expect(shown).to_have_text(["bananas", "bananas"])
    with page.expect_response(f"**/api/conversations/{slow}"):
        if answer == "late":
            held[0].continue_()
        else:
            held[0].fulfill(status=int(answer), json={"error": {"message": "broken"}})
    # The page has had its turn at the answer: nothing moved.
    page.wait_for_timeout(300)
    expect(shown).to_have_text(["bananas", "bananas"])
    expect(page.locator("#title")).to_have_text("bananas")
    expect(page).to_have_url(f"{server.url}/c/{quick}")
    expect(page.locator(".conversation-link[aria-current='page']")).to_have_text("bananas")
    expect(page.locator("#notice")).to_be_empty()
    page_errors[:] = [error for error in page_errors if f"status of {answer}" not in error]
