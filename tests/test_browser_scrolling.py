"""Scrolling in a real browser, on SQLite and on PostgreSQL: the view follows a growing answer until the reader scrolls
up, keeps what they read in place, and follows again once they come back."""
import json

import pytest
from browser import answers, choose, open_chat, send, wait_until_idle
from playwright.sync_api import expect

from test_browser_conversations import page_fetch

pytestmark = pytest.mark.both_databases


AT_BOTTOM = "() => { const m = document.querySelector('#messages'); return m.scrollHeight - m.scrollTop - m.clientHeight < 50; }"
# Where the reader is: the first message in view (its index) and how far its top is from the top of the list's view.
# scrollTop does not say it: messages that have never been near the view are laid out at a placeholder height
# (content-visibility: auto, style.css) until a scroll brings them near, and then scroll anchoring changes scrollTop
# by the difference (166 px after this test's scroll, a frame or two later) so that what is in view stays put.
READER_AT = """(index) => {
  const list = document.querySelector('#messages');
  const edge = list.getBoundingClientRect().top;
  const messages = [...list.querySelectorAll('.message')];
  index ??= messages.findIndex((message) => message.getBoundingClientRect().bottom > edge);
  return [index, messages[index].getBoundingClientRect().top - edge];
}"""


def test_auto_scroll_follows_until_the_reader_scrolls_up(page, server):
    """A growing answer keeps the view at the bottom until the reader scrolls up, and again once they come back."""
    open_chat(page, server)
    status, body = page_fetch(page, "POST", "/api/conversations/import", [{"role": "user" if n % 2 == 0 else "assistant", "content": f"line {n}"} for n in range(40)])
    assert status == 201, body
    page.goto(f"{server.url}/c/{json.loads(body)['id']}")
    # The whole conversation is on the page before the reader scrolls (older messages come in idle time).
    expect(page.locator("#messages .message")).to_have_count(40)
    choose(page, "testing", "slow")
    send(page, "count")
    expect(answers(page).last).to_contain_text("tick3")
    assert page.evaluate(AT_BOTTOM)
    page.evaluate("() => { document.querySelector('#messages').scrollTop -= 600; }")
    page.wait_for_function(f"() => !({AT_BOTTOM})()")
    index, top = page.evaluate(READER_AT)
    expect(page.locator("#to-bottom")).to_be_visible()
    page.wait_for_timeout(300)
    # The same text stays where the reader put it while the answer grows below (less than a pixel of rounding).
    assert abs(page.evaluate(READER_AT, index)[1] - top) < 2
    assert not page.evaluate(f"({AT_BOTTOM})()")
    page.click("#to-bottom")
    page.wait_for_timeout(300)
    assert page.evaluate(AT_BOTTOM)
    page.click("#stop")
    wait_until_idle(page)


def test_the_view_keeps_following_when_the_list_grows_before_a_scroll_is_handled(page, server):
    """A scroll event is handled a frame after its scroll: if the answer grew below meanwhile (a loaded machine), the
    reader has not left the end, and the view goes on following."""
    open_chat(page, server)
    choose(page, "testing", "slow")
    send(page, "count")
    expect(answers(page).last).to_contain_text("tick1")
    assert page.evaluate(AT_BOTTOM)
    # In one task, as the page does when it follows: the list grows past its height, scrolls to its end, then grows by
    # more than a screen before the scroll's event is handled.
    page.evaluate("""() => {
      const list = document.querySelector('#messages');
      const grow = (px) => list.append(Object.assign(document.createElement('div'), { style: `height: ${px}px; flex: none` }));
      grow(1000);
      list.scrollTop = list.scrollHeight;
      grow(2000);
    }""")
    # The answer's next chunks bring the view to the new end; a view that took the event for the reader leaving
    # would show the button and stay where it was.
    expect(answers(page).last).to_contain_text("tick3")
    page.wait_for_function(AT_BOTTOM)
    expect(page.locator("#to-bottom")).to_be_hidden()
    page.click("#stop")
    wait_until_idle(page)
