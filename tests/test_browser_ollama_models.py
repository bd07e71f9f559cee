"""An Ollama connection's models in Settings → Connections, in a real browser in English and Russian, against the fake
Ollama on loopback: listed with their sizes, pulled with a progress bar that moves, failures said in plain words, a
pull cancelled or stopped by closing the panel, a model deleted; the provider list follows without a reload."""
import os
import signal
import sys

import pytest
from browser import open_chat, screenshot
from conftest import Browser, ServerProcess
from fake_ollama import NO_SPACE, ollama  # noqa: F401 (fixture)
from fake_upstream import MODELS, upstream, webui  # noqa: F401 (fixtures)
from playwright.sync_api import expect
from test_browser_connections import item, open_connections
from test_cli import clean_env
from test_ollama_models import QWEN, added, farm

WORDS = {
    "en": {
        "facts": {
            MODELS[0]: "4.7 GB · llama · 8.0B parameters · Q4_0",
            MODELS[1]: "1.3 GB · gemma · 1B parameters · Q4_K_M",
        },
        "qwen": "397.8 MB · qwen2 · 494.03M parameters · Q4_K_M",
        "layer": "Downloading layer 2bada8a74506: ",
        "of_total": " of 397.8 MB",
        "pulled": "“qwen2.5:0.5b” is pulled and can be chosen.",
        "unknown": "farm found no model called “nosuch:1b” to download",
        "no_space": "farm has no space left on its disk for “qwen2.5:0.5b”",
        "cancelled": "The pull of “qwen2.5:0.5b” is cancelled.",
        "deleted": "“fake-model” is deleted.",
        "missing": "farm has no model called “other-model”",
        "broken": "The answer stopped before the server said whether “qwen2.5:0.5b” was pulled",
        "models": "Models",
    },
    "ru": {
        "facts": {
            MODELS[0]: "4,7 ГБ · llama · 8.0B параметров · Q4_0",
            MODELS[1]: "1,3 ГБ · gemma · 1B параметров · Q4_K_M",
        },
        "qwen": "397,8 МБ · qwen2 · 494.03M параметров · Q4_K_M",
        "layer": "Скачиваем слой 2bada8a74506: ",
        "of_total": " из 397,8 МБ",
        "pulled": "Модель «qwen2.5:0.5b» скачана, её можно выбрать.",
        "unknown": "farm не нашёл для скачивания модель «nosuch:1b»",
        "no_space": "На диске farm не осталось места для «qwen2.5:0.5b»",
        "cancelled": "Скачивание «qwen2.5:0.5b» отменено.",
        "deleted": "Модель «fake-model» удалена.",
        "missing": "На farm нет модели «other-model»",
        "broken": "Ответ оборвался раньше, чем сервер сообщил, скачана ли модель «qwen2.5:0.5b»",
        "models": "Модели",
    },
}
LANGS = pytest.mark.parametrize("lang", ["en", "ru"])
# Polled at each frame until the pull's bar has stood at two different places (a share of its layer, above 0).
BAR_MOVED = """() => {
  const bar = document.querySelector(".ollama-models progress");
  window.barPositions ??= new Set();
  if (bar && bar.position > 0) window.barPositions.add(bar.position);
  return window.barPositions.size >= 2;
}"""


def editing_farm(page, server, lang):
    """Open the page in `lang` with the provider `farm` chosen, then the form of that connection."""
    open_chat(page, server, f"/?lang={lang}")
    page.select_option("#provider", "farm")
    open_connections(page)
    item(page, "farm").get_by_role("button").first.click()
    expect(page.locator("#connection-form")).to_be_visible()


def model(page, name):
    """The installed model called `name` in the models shown."""
    return page.locator(f".ollama-models .ollama-model[data-model='{name}']")


def pull(page, name):
    """Type a model's name into the pull field and press Enter."""
    page.fill("#ollama-pull-name", name)
    page.press("#ollama-pull-name", "Enter")


def status(page):
    """What the models' section says."""
    return page.locator(".ollama-models .ollama-status")


@pytest.fixture
def farm_server(upstream, ollama, webui):
    """A server with the page's connection `farm` to the fake Ollama."""
    server = webui([])
    added(Browser(server.url), farm(upstream))
    return server


@LANGS
def test_the_installed_models_are_listed_and_a_pull_shows_its_progress_then_the_model(page, farm_server, ollama, lang):
    words = WORDS[lang]
    editing_farm(page, farm_server, lang)
    expect(page.locator(".ollama-models .ollama-model")).to_have_count(len(MODELS))
    for name in MODELS:
        expect(model(page, name)).to_contain_text(words["facts"][name])

    ollama.steps, ollama.pause = 12, 0.15
    pull(page, QWEN)
    expect(page.locator("#ollama-pull-name")).to_be_disabled()
    expect(page.locator(".ollama-pull button").first).to_be_disabled()
    expect(status(page)).to_contain_text(words["layer"])
    expect(status(page)).to_contain_text(words["of_total"])
    page.wait_for_function(BAR_MOVED, polling="raf")
    status(page).scroll_into_view_if_needed()
    screenshot(page, f"ollama-pull-{lang}")
    expect(status(page)).to_have_text(words["pulled"])
    expect(model(page, QWEN)).to_contain_text(words["qwen"])
    expect(page.locator("#ollama-pull-name")).to_be_enabled()
    expect(page.locator("#ollama-pull-name")).to_have_value("")
    expect(page.locator(".ollama-models progress")).to_be_hidden()
    # In the model list of the provider chosen, with no reload.
    expect(page.locator(f"#model option[value='{QWEN}']")).to_be_attached()
    assert QWEN in ollama.models and page.locator("#connection-form").is_visible(), "Enter pulled, it did not save"


@LANGS
def test_an_unknown_model_and_a_full_disk_are_said_in_plain_words(page, farm_server, ollama, lang):
    words = WORDS[lang]
    editing_farm(page, farm_server, lang)
    pull(page, "nosuch:1b")
    expect(status(page)).to_contain_text(words["unknown"])
    expect(status(page)).to_have_class("ollama-status failed")
    expect(page.locator("#ollama-pull-name")).to_be_enabled()

    ollama.fault = NO_SPACE
    pull(page, QWEN)
    expect(status(page)).to_contain_text(words["no_space"])
    status(page).scroll_into_view_if_needed()
    screenshot(page, f"ollama-no-space-{lang}")
    expect(page.locator(".ollama-models progress")).to_be_hidden()
    expect(model(page, QWEN)).to_have_count(0)
    expect(page.locator(f"#model option[value='{QWEN}']")).to_have_count(0)


@LANGS
def test_cancel_and_closing_the_panel_abort_the_pull(page, farm_server, upstream, ollama, lang):
    words = WORDS[lang]
    editing_farm(page, farm_server, lang)
    ollama.steps, ollama.pause = 400, 0.05
    pull(page, QWEN)
    expect(status(page)).to_contain_text(words["layer"])
    page.locator(".ollama-pull button").last.click()
    assert upstream.disconnected.wait(10), "the pull went on after Cancel"
    expect(status(page)).to_have_text(words["cancelled"])
    expect(page.locator("#ollama-pull-name")).to_be_enabled()
    assert QWEN not in ollama.models

    upstream.disconnected.clear()
    pull(page, QWEN)
    expect(status(page)).to_contain_text(words["layer"])
    page.click("#connections-close")
    assert upstream.disconnected.wait(10), "the pull went on after the panel was closed"
    assert QWEN not in ollama.models


@LANGS
def test_a_model_is_deleted_after_a_confirmation_and_a_failed_delete_is_said(page, farm_server, ollama, page_errors, lang):
    words = WORDS[lang]
    editing_farm(page, farm_server, lang)
    expect(page.locator(f"#model option[value='{MODELS[0]}']")).to_be_attached()
    model(page, MODELS[0]).get_by_role("button").click()
    expect(page.locator("#confirm-text")).to_contain_text(MODELS[0])
    page.click("#confirm-dialog button[value='cancel']")
    expect(model(page, MODELS[0])).to_have_count(1)
    assert MODELS[0] in ollama.models

    model(page, MODELS[0]).get_by_role("button").click()
    page.click("#confirm-dialog button[value='confirm']")
    expect(status(page)).to_have_text(words["deleted"])
    expect(model(page, MODELS[0])).to_have_count(0)
    expect(page.locator(f"#model option[value='{MODELS[0]}']")).to_have_count(0)
    assert MODELS[0] not in ollama.models

    # Deleted on the server behind the page's back: the server's words, and the list stays as it was.
    del ollama.models[MODELS[1]]
    model(page, MODELS[1]).get_by_role("button").click()
    page.click("#confirm-dialog button[value='confirm']")
    expect(status(page)).to_contain_text(words["missing"])
    expect(status(page)).to_have_class("ollama-status failed")
    # The browser logs the refusal it was made to provoke.
    page_errors[:] = [error for error in page_errors if "status of 404" not in error]


@LANGS
def test_a_config_servers_models_and_a_pull_whose_answer_breaks_off(page, upstream, ollama, page_errors, tmp_path, lang):
    words = WORDS[lang]
    providers = f'[{{name = "farm", type = "ollama", base_url = "{upstream.url}"}}]'
    env = clean_env(WEBUI_DATA_DIR=str(tmp_path), WEBUI_PROVIDERS=providers, WEBUI_PING_INTERVAL="0", LANG="C")
    server = ServerProcess([sys.executable, "-m", "webui", "--port", "0", "serve"], env=env)
    try:
        open_chat(page, server, f"/?lang={lang}")
        open_connections(page)
        expect(item(page, "farm").get_by_role("button")).to_have_text([words["models"]])
        item(page, "farm").get_by_role("button").click()
        expect(item(page, "farm").locator(".ollama-model")).to_have_count(len(MODELS))
        expect(model(page, MODELS[0])).to_contain_text(words["facts"][MODELS[0]])

        ollama.steps, ollama.pause = 400, 0.05
        pull(page, QWEN)
        expect(status(page)).to_contain_text(words["layer"])
        # The server goes away mid-pull: the answer ends with no final line.
        os.kill(server.process.pid, signal.SIGKILL)
        expect(status(page)).to_contain_text(words["broken"])
        expect(status(page)).to_have_class("ollama-status failed")
        expect(page.locator("#ollama-pull-name")).to_be_enabled()
    finally:
        server.stop()
    # While the server is away, the page's reconnects and requests fail.
    page_errors[:] = [error for error in page_errors if "WebSocket" not in error and "net::ERR_" not in error]
