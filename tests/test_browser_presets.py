"""Presets, option errors and the demo model in a real browser, in English and in Russian."""
import json

import pytest
from browser import choose, open_chat, screenshot, send, wait_until_idle
from playwright.sync_api import expect
from test_browser_conversations import page_fetch, start_conversation

from webui.providers.local import bundled_model_path

WORDS = {
    "en": {
        "preset": "Preset",
        "none": "No preset",
        "saved": "Preset saved",
        "shared": "Pirates (from the server)",
        "error": "Top k must be a whole number from 0 to 1,000.",
        "not_saved": "Not saved: correct the marked fields.",
        "no_name": "Type a name for the preset.",
        "default": "0.6 — provider default",
        "unknown": "provider default",
        "demo": "tiny offline demo model: it writes English only",
        "settings": "Settings → Connections",
        "models_setting": "Set WEBUI_MODELS_DIR to a folder",
    },
    "ru": {
        "preset": "Пресет",
        "none": "Без пресета",
        "saved": "Пресет сохранён",
        "shared": "Pirates (с сервера)",
        "error": "Порог top k: нужно целое число от 0 до 1\u00a0000.",
        "not_saved": "Не сохранено: исправьте отмеченные поля.",
        "no_name": "Введите название пресета.",
        "default": "0,6 — по умолчанию у провайдера",
        "unknown": "по умолчанию у провайдера",
        "demo": "крошечная офлайн-демомодель: пишет только по-английски",
        "settings": "Настройки → Подключения",
        "models_setting": "Укажите папку в WEBUI_MODELS_DIR",
    },
}


def make_preset(page, **preset):
    """Store a preset from the page (its cookie is the owner); returns it."""
    status, body = page_fetch(page, "POST", "/api/presets", preset)
    assert status == 201, body
    return json.loads(body)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_new_chat_starts_from_the_default_preset_and_the_picker_chooses_another(page, server, testing_provider, lang):
    open_chat(page, server, f"/?lang={lang}")
    # No presets yet: no picker.
    expect(page.locator("#preset-picker")).to_be_hidden()
    make_preset(page, name="Brief", system_prompt="Answer briefly.", options={"temperature": 0.2, "top_k": 5}, default=True)
    make_preset(page, name="Pirates", system_prompt="Talk like a pirate.", options={"seed": 42, "stop": ["Arr", "Ahoy"]}, shared=True)
    open_chat(page, server, f"/?lang={lang}")
    picker = page.locator("#preset-picker")
    expect(picker).to_be_visible()
    expect(picker).to_contain_text(WORDS[lang]["preset"])
    expect(page.locator("#preset option:checked")).to_have_text("Brief")
    page.click("#settings-toggle")
    expect(page.locator("#system-prompt")).to_have_value("Answer briefly.")
    expect(page.locator("[data-option='temperature']")).to_have_value("0.2")
    expect(page.locator("[data-option='top_k']")).to_have_value("5")
    page.select_option("#preset", label=WORDS[lang]["shared"])
    expect(page.locator("#system-prompt")).to_have_value("Talk like a pirate.")
    expect(page.locator("[data-option='temperature']")).to_have_value("")
    expect(page.locator("[data-option='seed']")).to_have_value("42")
    expect(page.locator("[data-option='stop']")).to_have_value("Arr\nAhoy")
    screenshot(page, f"preset-picker-{lang}")
    choose(page, "testing", "echo")
    send(page, "hello")
    wait_until_idle(page)
    assert testing_provider().seen_kwargs[-1] == {"seed": 42, "stop": ["Arr", "Ahoy"]}
    assert testing_provider().seen_messages[-1][0] == {"role": "system", "content": "Talk like a pirate."}
    expect(picker).to_be_hidden()
    conversation_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#settings-saved")).not_to_be_empty()
    status, body = page_fetch(page, "GET", f"/api/conversations/{conversation_id}")
    assert json.loads(body)["options"] == {"seed": 42, "stop": ["Arr", "Ahoy"]}
    # The next new chat starts from the default again; a preset can be deleted there.
    page.click("#new-chat")
    expect(picker).to_be_visible()
    expect(page.locator("#system-prompt")).to_have_value("Answer briefly.")
    page.click("#preset-delete")
    expect(page.locator("#preset option")).to_have_count(2)
    expect(page.locator("#preset option:checked")).to_have_text(WORDS[lang]["none"])
    expect(page.locator("#preset-delete")).to_be_hidden()
    assert [p["name"] for p in json.loads(page_fetch(page, "GET", "/api/presets")[1])["presets"]] == ["Pirates"]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_an_out_of_range_option_is_an_error_on_its_field_never_saved(page, server, lang):
    conversation_id = start_conversation(page, server, "hello", path=f"/?lang={lang}")
    page.click("#settings-toggle")
    page.fill("[data-option='top_k']", "40")
    expect(page.locator("#settings-saved")).not_to_be_empty()
    page.fill("[data-option='top_k']", "5000")
    expect(page.locator("#error-top_k")).to_have_text(WORDS[lang]["error"])
    expect(page.locator("[data-option='top_k']")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#settings-saved")).to_have_text(WORDS[lang]["not_saved"])
    screenshot(page, f"option-error-{lang}")
    status, body = page_fetch(page, "GET", f"/api/conversations/{conversation_id}")
    assert json.loads(body)["options"] == {"top_k": 40}
    # Saving it as a preset is refused the same way.
    page.fill("#preset-name", "Broken")
    page.click("#preset-save")
    expect(page.locator("#preset-status")).to_have_text(WORDS[lang]["not_saved"])
    assert json.loads(page_fetch(page, "GET", "/api/presets")[1])["presets"] == []
    page.fill("[data-option='top_k']", "50")
    expect(page.locator("#error-top_k")).to_be_empty()
    page.check("#preset-default")
    page.click("#preset-save")
    expect(page.locator("#preset-status")).to_have_text(WORDS[lang]["saved"])
    saved = json.loads(page_fetch(page, "GET", "/api/presets")[1])["presets"]
    assert [(p["name"], p["options"], p["default"]) for p in saved] == [("Broken", {"top_k": 50}, True)]
    # Each field says what an empty field gets: the provider's value where the server knows it.
    expect(page.locator("#default-temperature")).to_have_text(WORDS[lang]["unknown"])
    choose(page, "local", bundled_model_path().stem)
    expect(page.locator("#default-temperature")).to_have_text(WORDS[lang]["default"])
    expect(page.locator("#default-top_k")).to_have_text(WORDS[lang]["unknown"])


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_preset_without_a_name_is_refused_on_its_field_before_any_request(page, server, lang):
    open_chat(page, server, f"/?lang={lang}")
    sent = []
    page.on("request", lambda request: "/api/presets" in request.url and request.method != "GET" and sent.append(request.url))
    page.click("#settings-toggle")
    name, error = page.locator("#preset-name"), page.locator("#preset-name-error")
    for typed in ("", "   "):
        page.fill("#preset-name", typed)
        page.click("#preset-save")
        expect(error).to_have_text(WORDS[lang]["no_name"])
        expect(name).to_have_attribute("aria-invalid", "true")
        expect(name).to_be_focused()
        expect(page.locator("#preset-status")).to_have_text(WORDS[lang]["not_saved"])
    screenshot(page, f"preset-no-name-{lang}")
    page.fill("#preset-name", "Brief")
    expect(error).to_be_empty()
    expect(name).to_have_attribute("aria-invalid", "false")
    assert sent == []
    page.click("#preset-save")
    expect(page.locator("#preset-status")).to_have_text(WORDS[lang]["saved"])
    assert len(sent) == 1
    assert [p["name"] for p in json.loads(page_fetch(page, "GET", "/api/presets")[1])["presets"]] == ["Brief"]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_bundled_model_is_said_to_be_a_demo_and_a_first_visit_shows_the_ways_forward(page, server, lang):
    open_chat(page, server, f"/?lang={lang}")
    first_run = page.locator("#first-run")
    expect(first_run).to_be_visible()
    expect(first_run).to_contain_text(WORDS[lang]["settings"])
    expect(first_run).to_contain_text(WORDS[lang]["models_setting"])
    note = page.locator("#model-note")
    choose(page, "local", bundled_model_path().stem)
    expect(note).to_be_visible()
    expect(note).to_contain_text(WORDS[lang]["demo"])
    screenshot(page, f"demo-model-{lang}")
    note.locator("a").click()
    expect(page.locator("#connections")).to_be_visible()
    page.click("#connections-close")
    choose(page, "testing", "echo")
    expect(note).to_be_hidden()
    send(page, "hello")
    wait_until_idle(page)
    expect(first_run).to_have_count(0)
    page.reload()
    expect(page.locator("#first-run")).to_have_count(0)


@pytest.fixture
def models_dir(app_config, tmp_path):
    """A models folder the server is told about (before the app is made)."""
    folder = tmp_path / "models"
    folder.mkdir()
    app_config["WEBUI_MODELS_DIR"] = str(folder)
    return folder


def test_a_first_visit_names_the_models_folder_when_there_is_one(page, models_dir, server):
    open_chat(page, server)
    expect(page.locator("#first-run")).to_contain_text(str(models_dir.resolve()))
