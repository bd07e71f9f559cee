"""The chat page in a real browser: streaming, stopping, pickers, keyboard, languages, Markdown, XSS, layouts."""
import re

from browser import answers, choose, open_chat, phone, screenshot, send, start_counting, wait_until_idle  # noqa: F401
from playwright.sync_api import expect

# Text nodes, placeholders and labels a person sees or hears, leaving out what is not the page's own words:
# model output, titles, provider and model names, language names.
VISIBLE_STRINGS = """() => {
  const skip = "select, .languages, .content, .meta, .conversation-link, .versions > span, #title, #announcer";
  const strings = new Set();
  for (const element of document.querySelectorAll("body *")) {
    if (element.closest(skip) || !element.checkVisibility()) continue;
    for (const node of element.childNodes) {
      if (node.nodeType === Node.TEXT_NODE && node.textContent.trim()) strings.add(node.textContent.trim());
    }
    for (const name of ["placeholder", "aria-label", "title"]) {
      if (element.getAttribute(name)) strings.add(element.getAttribute(name));
    }
  }
  return [...strings];
}"""

# Anything that could run script, in the answers or the conversations list.
DANGEROUS = "script, iframe, object, embed, [onerror], [onload], [onclick], a[href^='javascript:' i], [src^='javascript:' i]"


def stream_step_by_step(page, text):
    """Feed `text` to a StreamRenderer one character at a time, checking after each render that nothing can run."""
    return page.evaluate(
        """async ([text, dangerous]) => {
          const { StreamRenderer } = await import("/static/markdown.js");
          const box = document.createElement("div");
          document.body.append(box);
          const renderer = new StreamRenderer(box);
          for (const char of text) {
            renderer.append(char);
            renderer.render();
            if (box.querySelector(dangerous) || window.__pwned) return box.innerHTML;
          }
          renderer.finish();
          return box.querySelector(dangerous) || window.__pwned ? box.innerHTML : null;
        }""",
        [text, DANGEROUS],
    )


def details_of(page):
    """Open the last answer's details and return the line that shows them."""
    answers(page).last.get_by_role("button", name="Details").click()
    return answers(page).last.locator(".meta")


def test_an_answer_streams_into_the_page(page, server):
    """A message sent with the echo model comes back, with provider, model and timing in its details."""
    open_chat(page, server)
    choose(page, "testing", "echo")
    send(page, "hello from the browser")
    expect(page.locator(".message.user")).to_have_text(re.compile("hello from the browser"))
    expect(answers(page).last.locator(".content")).to_have_text("hello from the browser")
    wait_until_idle(page)
    meta = details_of(page)
    expect(meta).to_contain_text("testing · echo")
    expect(meta).to_contain_text("first token in")
    expect(page.locator("#announcer")).to_contain_text("hello from the browser")
    assert page.locator("#messages").get_attribute("aria-live") is None
    screenshot(page, "desktop-light-answer")


def test_stop_keeps_the_text_and_says_stopped(page, server):
    """The Stop button ends a long answer; the text stays and is marked as stopped."""
    start_counting(page, server)
    expect(page.locator("#send")).to_be_hidden()
    page.click("#stop")
    wait_until_idle(page)
    expect(answers(page).last.locator(".meta")).to_contain_text("stopped")
    assert "tick3" in answers(page).last.locator(".content").inner_text()


def test_switching_provider_and_model(page, server):
    """The pickers decide who answers: another provider and another model give other answers."""
    open_chat(page, server)
    options = page.locator("#provider option").all_inner_texts()
    assert any("testing" in option for option in options) and any("classic" in option for option in options)
    page.select_option("#provider", "classic_module")
    expect(page.locator("#model option")).to_have_text(["classic-1"])
    send(page, "who are you")
    expect(answers(page).last.locator(".content")).to_have_text("classic says: who are you")
    wait_until_idle(page)
    expect(details_of(page)).to_contain_text("classic_module · classic-1")
    choose(page, "testing", "echo")
    send(page, "and now")
    expect(answers(page).last.locator(".content")).to_have_text("and now")
    wait_until_idle(page)
    expect(details_of(page)).to_contain_text("testing · echo")


def test_a_message_a_provider_cannot_take_goes_back_to_the_box_with_the_reason(page, server):
    """Nothing was stored: a bubble would be gone after a reload, so the text waits in the box for another provider."""
    open_chat(page, server)
    page.select_option("#provider", "broken_module")
    send(page, "keep this text")
    expect(page.locator("#notice")).to_contain_text("broken_module.py could not be loaded")
    expect(page.locator("#input")).to_have_value("keep this text")
    expect(page.locator(".message")).to_have_count(0)
    choose(page)
    page.press("#input", "Enter")
    expect(page.locator(".message.user .content")).to_have_text(["keep this text"])
    wait_until_idle(page)
    expect(page.locator(".message.assistant .content")).to_have_text(["keep this text"])


def test_keyboard_enter_shift_enter_and_escape(page, server):
    """Enter sends, Shift+Enter starts a new line, Esc stops the answer; the skip link leads to the message box."""
    open_chat(page, server)
    choose(page, "testing", "echo")
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#input")).to_be_focused()
    one_line = page.locator("#input").bounding_box()["height"]
    page.keyboard.type("line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")
    assert page.input_value("#input") == "line one\nline two"
    assert page.locator("#input").bounding_box()["height"] > one_line
    expect(page.locator(".message")).to_have_count(0)
    page.keyboard.press("Enter")
    expect(page.locator(".message.user .content")).to_have_text("line one\nline two")
    assert page.input_value("#input") == ""
    wait_until_idle(page)
    choose(page, "testing", "slow")
    page.focus("#input")
    page.keyboard.type("count")
    page.keyboard.press("Enter")
    expect(answers(page).last).to_contain_text("tick2")
    page.keyboard.press("Escape")
    wait_until_idle(page)
    expect(answers(page).last.locator(".meta")).to_contain_text("stopped")


def test_every_visible_string_changes_with_the_language(page, server):
    """Between English and Russian every label, button, placeholder and hint of the page, and its title, differs."""
    seen = {}
    for lang in ("en", "ru"):
        open_chat(page, server, f"/?lang={lang}")
        choose(page, "testing", "echo")
        send(page, "hello")
        wait_until_idle(page)
        page.click("#settings-toggle")
        expect(page.locator("#settings")).to_be_visible()
        seen[lang] = set(page.evaluate(VISIBLE_STRINGS))
        screenshot(page, f"desktop-settings-{lang}")
    assert len(seen["en"]) > 30
    assert seen["en"] & seen["ru"] == set()
    assert [text for text in seen["ru"] if not re.search("[а-яА-Я]", text) and re.search("[A-Za-z]", text)] == []
    # The script sets the tab's title too.
    assert page.title().endswith(" · Чат")


def test_markdown_answer_renders_table_code_and_math(page, server, browser_context):
    """A Markdown answer streamed in small chunks ends as a table, highlighted code with Copy, and KaTeX math."""
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_chat(page, server)
    choose(page, "testing", "markdown")
    send(page, "show me")
    wait_until_idle(page)
    answer = answers(page).last
    expect(answer.locator("h1")).to_have_text("Results")
    expect(answer.locator("table tr")).to_have_count(3)
    expect(answer.locator("pre code .hljs-keyword").first).to_have_text("def")
    answer.locator("pre .copy-code").click()
    expect(answer.locator("pre .copy-code")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "def square(x):\n    return x * x  # the answer\n"
    expect(answer.locator(".katex")).to_have_count(2)
    expect(answer.locator(".katex-display")).to_have_count(1)
    link = answer.locator("blockquote a")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", re.compile("noopener"))
    screenshot(page, "desktop-light-markdown")


def test_streaming_renders_only_the_growing_block(page, server):
    """Finished blocks are rendered once and kept; the final page equals a render of the whole text."""
    open_chat(page, server)
    result = page.evaluate(
        """async () => {
          const { StreamRenderer, renderMarkdown } = await import("/static/markdown.js");
          const box = document.createElement("div");
          const renderer = new StreamRenderer(box);
          renderer.append("# Title\\n\\nFirst paragraph.\\n\\n");
          renderer.render();
          const heading = box.firstElementChild;
          renderer.append("- one\\n- two\\n\\nlast $x^2$ line");
          renderer.render();
          const settled = [...box.children].filter((node) => !node.classList.contains("live")).length;
          const kept = box.firstElementChild === heading;
          renderer.finish();
          const whole = renderMarkdown(document.createElement("div"), renderer.text).innerHTML;
          return { settled, kept, same: box.innerHTML === whole };
        }"""
    )
    assert result == {"settled": 2, "kept": True, "same": True}


PAYLOADS = [
    '<img src=x onerror="window.__pwned=true">',
    "<script>window.__pwned=true</script>",
    "[link](javascript:window.__pwned=true) <a href='javascript:window.__pwned=true'>a</a>",
    "```\n</code></pre><img src=x onerror=window.__pwned=true>\n```",
    "$\\href{javascript:window.__pwned=true}{x}$ <svg><script>window.__pwned=true</script></svg>",
]


def test_payloads_are_inert_at_every_step(page, server):
    """Payloads fed to the renderer one character at a time never yield anything that can run."""
    open_chat(page, server)
    for payload in PAYLOADS:
        assert stream_step_by_step(page, payload) is None, payload


def test_xss_in_an_answer_and_a_title_stays_inert(page, server):
    """HTML and javascript: links from a model or in a title are shown as text, never run."""
    open_chat(page, server)
    choose(page, "testing", "xss")
    send(page, '<img src=x onerror="window.__pwned=true"><script>window.__pwned=true</script>')
    wait_until_idle(page)
    expect(answers(page).last.locator(".content")).to_contain_text("<script>window.__pwned=true</script>")
    expect(page.locator(".conversation-link")).to_contain_text("<img src=x")
    expect(page.locator("#title")).to_contain_text("<img src=x")
    assert answers(page).last.locator("a").count() == 0, "javascript: links must not become links"
    assert page.evaluate("window.__pwned") is None
    assert page.locator(f"#messages :is({DANGEROUS}), #sidebar :is({DANGEROUS})").count() == 0
    assert page.locator("#messages img, #sidebar img").count() == 0


def test_theme_switch_is_remembered(page, server):
    """The theme switcher changes the colours and survives a reload."""
    open_chat(page, server)
    choose(page, "testing", "markdown")
    send(page, "show me")
    wait_until_idle(page)
    light = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.select_option("#theme", "dark")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != light
    screenshot(page, "desktop-dark-markdown")
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    expect(page.locator("#theme")).to_have_value("dark")


def no_horizontal_scroll(page):
    """Whether the page fits its width."""
    return page.evaluate("document.scrollingElement.scrollWidth <= innerWidth && document.querySelector('#messages').scrollWidth <= innerWidth")


def small_targets(page):
    """Visible controls smaller than 44 CSS pixels in height."""
    return page.evaluate(
        """() => [...document.querySelectorAll("button, select, input, textarea, .languages a, .conversation-link")]
          .filter((element) => element.checkVisibility() && element.getBoundingClientRect().height < 43.5)
          .map((element) => element.outerHTML.slice(0, 80))"""
    )


def test_phone_layout(phone, server):
    """At 390×844 nothing scrolls sideways, controls are touch-sized and the list is a drawer."""
    open_chat(phone, server)
    choose(phone, "testing", "markdown")
    send(phone, "show me a long answer with a wide table and code")
    wait_until_idle(phone)
    assert no_horizontal_scroll(phone)
    assert small_targets(phone) == []
    expect(phone.locator("#sidebar")).to_be_hidden()
    screenshot(phone, "phone-light-markdown")
    phone.click("#open-sidebar")
    expect(phone.locator("#sidebar")).to_be_visible()
    phone.wait_for_function("() => document.getAnimations().length === 0")
    expect(phone.locator(".conversation-link")).to_have_count(1)
    assert no_horizontal_scroll(phone)
    assert small_targets(phone) == []
    screenshot(phone, "phone-light-drawer")
    phone.select_option("#theme", "dark")
    phone.keyboard.press("Escape")
    expect(phone.locator("#sidebar")).to_be_hidden()
    expect(phone.locator("#open-sidebar")).to_be_focused()
    screenshot(phone, "phone-dark-markdown")
