"""The context budget on the page, in both languages: the line above the first message the model saw, the gauge by the
message box, and messages refused for their length (by the model or the server) staying in the box."""
import re

import pytest
from browser import answers, choose, open_chat, screenshot, send, wait_until_idle
from playwright.sync_api import expect

from test_context import WINDOWED, WORDS

# Each language: the line once 10 messages were left out, the gauge's words, the too-long refusal, the too-large one.
WORDING = {
    "en": (
        "10 earlier messages were not sent: the model holds 300 tokens",
        re.compile(r"^\d+ of 300 tokens$"),
        "The message is too long for this model",
        "This message is too long to send",
    ),
    "ru": (
        "10 более ранних сообщений не отправлены: модель вмещает 300 токенов",
        re.compile(r"^\d+ из 300 токенов$"),
        "Сообщение слишком длинное для этой модели",
        "Это сообщение слишком длинное для отправки",
    ),
}
LANGUAGES = pytest.mark.parametrize("lang", ["en", "ru"])


@pytest.fixture
def app_config(app_config, providers_dir):
    """The windowed provider (a 300-token context) next to the test modules, and a small request limit."""
    (providers_dir / "windowed.py").write_text(WINDOWED)
    return {**app_config, "WEBUI_MAX_REQUEST_BYTES": 4096}


def idle_with_text_in_the_box(page, text):
    """The page is ready for the next message, and `text` waits in the box."""
    wait_until_idle(page)
    expect(page.locator("#stop")).to_be_hidden()
    expect(page.locator("#input")).to_have_value(text)


@LANGUAGES
def test_the_page_says_which_messages_the_model_did_not_see(page, server, lang):
    line, gauge, _, _ = WORDING[lang]
    open_chat(page, server, f"/?lang={lang}")
    choose(page, "windowed", "small")
    for n in range(10):
        send(page, f"{n} {WORDS}")
        wait_until_idle(page)
    # The ninth message overflowed the window and five turns went at once (see test_context), none since.
    for reloaded in (False, True):
        if reloaded:
            page.reload()
        expect(page.locator(".context-note")).to_have_text(line)
        # It stands right above the first message sent, the sixth, and the gauge says how full the context was.
        expect(page.locator(".context-note + .message.user .content")).to_have_text(f"5 {WORDS}")
        expect(page.locator("#context-text")).to_have_text(gauge)
        expect(page.locator("#context-gauge")).to_be_visible()
        page.locator(".context-note").scroll_into_view_if_needed()
        screenshot(page, f"context-line-{lang}{'-reloaded' if reloaded else ''}")


@LANGUAGES
def test_the_line_reads_in_the_pages_language(page, server, lang):
    line = WORDING[lang][0]
    open_chat(page, server, f"/?lang={lang}")
    shown = page.evaluate(
        """async () => {
          const { droppedText } = await import("/static/context.js");
          return [droppedText({ limit: 300, used: 10, dropped_messages: 10 }), droppedText({ limit: 2048, dropped_messages: 1 }),
                  droppedText({ limit: 2048, dropped_messages: 14 }), droppedText({ limit: null, dropped_messages: 21 })];
        }"""
    )
    assert shown[0] == line
    expected = {
        "en": ["1 earlier message was not sent: the model holds 2,048 tokens",
               "14 earlier messages were not sent: the model holds 2,048 tokens",
               "21 earlier messages were not sent: they did not fit in the model's context"],
        "ru": ["1 более раннее сообщение не отправлено: модель вмещает 2\u00a0048 токенов",
               "14 более ранних сообщений не отправлены: модель вмещает 2\u00a0048 токенов",
               "21 более раннее сообщение не отправлено: они не поместились в контекст модели"],
    }[lang]
    assert shown[1:] == expected


@LANGUAGES
def test_a_message_too_long_for_the_model_stays_in_the_box(page, server, lang):
    refusal = WORDING[lang][2]
    open_chat(page, server, f"/?lang={lang}")
    choose(page, "windowed", "small")
    send(page, "hello")
    wait_until_idle(page)
    long = "y" * 900
    send(page, long)
    expect(page.locator("#notice")).to_contain_text(refusal)
    idle_with_text_in_the_box(page, long)
    expect(page.locator(".message")).to_have_count(2)
    page.reload()
    expect(page.locator(".message")).to_have_count(2)


@LANGUAGES
def test_a_paste_larger_than_the_server_takes_is_not_sent_and_stays_in_the_box(page, server, lang):
    refusal = WORDING[lang][3]
    open_chat(page, server, f"/?lang={lang}")
    choose(page, "testing", "echo")
    paste = "z" * 5000
    frames = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(payload)))
    send(page, paste)
    expect(page.locator("#notice")).to_contain_text(refusal)
    idle_with_text_in_the_box(page, paste)
    expect(page.locator(".message")).to_have_count(0)
    assert not [frame for frame in frames if "zzzz" in frame]


def test_a_too_large_refusal_from_the_server_gives_the_text_back(page, server):
    """A page that believes the limit higher (an older page, a changed setting) sends; the server's refusal names
    the request, and the page goes back to idle with the text in the box."""
    page.add_init_script(
        """new MutationObserver((changes, observer) => {
          if (!document.body) return;
          document.body.dataset.maxRequestBytes = "999999";
          observer.disconnect();
        }).observe(document, { childList: true, subtree: true });"""
    )
    open_chat(page, server)
    assert page.evaluate("document.body.dataset.maxRequestBytes") == "999999"
    choose(page, "testing", "echo")
    paste = "w" * 5000
    send(page, paste)
    expect(page.locator("#notice")).to_contain_text("The request is too large")
    idle_with_text_in_the_box(page, paste)
    expect(page.locator(".message")).to_have_count(0)
    send(page, "short")
    expect(answers(page)).to_have_text(re.compile("short"))
