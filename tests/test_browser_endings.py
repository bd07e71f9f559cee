"""How answers end, on the page: an answer cut at the model's token limit says so and offers Continue, Continue is
there after a reload and after switching versions, and the speed under an answer is in tokens per second, behind
its Details."""
import re

import pytest
from browser import answers, choose, open_chat, screenshot, send, wait_until_idle
from playwright.sync_api import expect

from fake_upstream import DONE, OPENAI_CHAT, answer, openai_event, openai_usage, stream, upstream, webui  # noqa: F401

CUT = {"en": "cut at the length limit", "ru": "обрезан по пределу длины"}
CONTINUE = {"en": "Continue", "ru": "Продолжить"}
DETAILS = {"en": "Details", "ru": "Подробности"}
# The numbers as each language writes them: 1,460 and 58.5 in English, 1 460 and 58,5 in Russian.
RATE = {
    "en": re.compile(r"first token in \d[\d,]* ms · (\d+\.\d) tokens/s$"),
    "ru": re.compile(r"первый токен через \d[\d\u00a0]* мс · (\d+,\d) токенов/с$"),
}


def lab(upstream, *steps):
    """A server for the page whose chat answers are these stream steps."""
    upstream.on("POST", OPENAI_CHAT, stream(*steps))
    return {"name": "lab", "type": "openai", "base_url": upstream.url + "/v1", "timeout": 1, "read_timeout": 5}


def answered(page, server, model, text, path="/"):
    """Open the page, send `text` to the testing module's `model` (or a provider's, as "provider/model") and wait
    for the answer."""
    provider, _, model = model.rpartition("/")
    open_chat(page, server, path)
    choose(page, provider or "testing", model)
    send(page, text)
    wait_until_idle(page)


def last_answer_button(page, name):
    """A button of the last answer."""
    return answers(page).last.locator(".message-actions").get_by_role("button", name=name, exact=True)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_an_answer_cut_at_the_token_limit_says_so_and_continues(page, upstream, webui, lang):
    cut = lab(upstream, openai_event("Once"), 0.2, openai_event(" upon"), 0.2, openai_event(finish="length"), openai_usage(40), DONE)
    answered(page, webui([cut], WEBUI_TITLES=False), "lab/fake-model", "Tell me a story", f"/?lang={lang}")
    expect(answers(page).last.locator(".meta")).to_have_text(CUT[lang], use_inner_text=True)
    screenshot(page, f"desktop-answer-cut-{lang}")
    upstream.on("POST", OPENAI_CHAT, stream(openai_event(" a time."), openai_event(finish="stop"), DONE))
    last_answer_button(page, CONTINUE[lang]).click()
    wait_until_idle(page)
    expect(answers(page)).to_have_count(1)
    expect(answers(page).last.locator(".content")).to_have_text("Once upon a time.")
    assert upstream.requests_to(OPENAI_CHAT)[-1].body["messages"][-1] == {"role": "assistant", "content": "Once upon"}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_speed_is_in_tokens_per_second_behind_the_details(page, upstream, webui, lang):
    steps = [openai_event("Counting"), 0.2, openai_event(" tokens"), 0.2, openai_event("."), openai_event(finish="stop"), openai_usage(31), DONE]
    answered(page, webui([lab(upstream, *steps)], WEBUI_TITLES=False), "lab/fake-model", "Count", f"/?lang={lang}")
    meta = answers(page).last.locator(".meta")
    expect(meta).to_be_hidden()
    toggle = last_answer_button(page, DETAILS[lang])
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(meta).to_be_visible()
    expect(meta).to_contain_text("lab · fake-model")
    expect(meta).to_have_text(RATE[lang])
    rate = float(RATE[lang].search(meta.inner_text())[1].replace(",", "."))
    # 30 tokens after the first, over the 0.4 s the fake server waits between them (or more, on a busy machine): the
    # server times them as they arrive, so a first chunk that came late shortens the span it sees by as much.
    assert 0 < rate <= 30 / 0.3
    screenshot(page, f"desktop-answer-details-{lang}")
    toggle.click()
    expect(meta).to_be_hidden()


def test_chunks_without_a_token_count_give_no_rate(page, server):
    """A drop-in module's chunks are not tokens, and an answer of a few milliseconds has no meaningful rate."""
    answered(page, server, "echo", "quick one")
    last_answer_button(page, "Details").click()
    meta = answers(page).last.locator(".meta")
    expect(meta).to_have_text(re.compile(r"^testing · echo · first token in \d+ ms$"))


def test_continue_is_offered_after_a_reload(page, server):
    answered(page, server, "numbered", "count")
    expect(last_answer_button(page, "Continue")).to_be_visible()
    page.reload()
    expect(answers(page).last.locator(".content")).to_have_text("n0 n1 n2 n3 n4 n5 n6 n7 n8 n9")
    last_answer_button(page, "Continue").click()
    wait_until_idle(page)
    expect(answers(page)).to_have_count(1)
    expect(answers(page).last.locator(".content")).to_have_text(" ".join(f"n{n}" for n in range(20)))
    # Only the last answer offers it.
    send(page, "again")
    wait_until_idle(page)
    expect(answers(page).first.get_by_role("button", name="Continue")).to_have_count(0)
    expect(last_answer_button(page, "Continue")).to_be_visible()


def test_continue_is_offered_after_switching_versions(page, server):
    answered(page, server, "numbered", "count")
    last_answer_button(page, "Regenerate").click()
    wait_until_idle(page)
    versions = answers(page).last.locator(".versions")
    expect(versions).to_contain_text("2 / 2")
    versions.get_by_role("button", name="Previous version").click()
    expect(answers(page).last.locator(".versions")).to_contain_text("1 / 2")
    expect(last_answer_button(page, "Continue")).to_be_visible()
    answers(page).last.locator(".versions").get_by_role("button", name="Next version").click()
    expect(answers(page).last.locator(".versions")).to_contain_text("2 / 2")
    expect(last_answer_button(page, "Continue")).to_be_visible()


def test_an_answer_without_text_offers_no_copy(page, upstream, webui):
    """A failed answer that wrote nothing has nothing to copy; an answer with text does."""
    server = webui([lab(upstream)], WEBUI_TITLES=False)
    upstream.on("POST", OPENAI_CHAT, answer(500, b'{"error": {"message": "the model crashed"}}'))
    answered(page, server, "lab/fake-model", "hello")
    failed = answers(page).last
    expect(failed.locator(".message-error")).to_contain_text("the model crashed")
    expect(failed.locator(".message-actions button")).to_have_text(["Regenerate", "Details"])
    expect(page.locator(".message.user .message-actions button")).to_have_text(["Copy", "Edit"])
    upstream.on("POST", OPENAI_CHAT, stream(openai_event("Hi"), openai_event(finish="stop"), DONE))
    send(page, "again")
    wait_until_idle(page)
    expect(answers(page).last.locator(".message-actions button")).to_have_text(["Copy", "Regenerate", "Continue", "Details"])
