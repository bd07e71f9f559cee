"""Settings → Connections in a real browser, in English and in Russian, against a fake model server on loopback."""
import json

import pytest
from browser import choose, open_chat, screenshot, send, wait_until_idle
from fake_upstream import MODELS, closed_port, upstream, webui  # noqa: F401 (fixtures)
from playwright.sync_api import expect
from test_browser_conversations import page_fetch
from test_module_keys import keyed  # noqa: F401 (fixture)

CANARY = "sk-canary0x9fBrowserKEY93Xk"
MODULE_CANARY = "sk-canary0x9fBrowserMOD57Yt"

WORDS = {
    "en": {
        "found": "The server lists 2 models: fake-model, other-model",
        "saved": "Saved “lab”.",
        "hint": "set, ends in …93Xk",
        "no_key": "no key",
        "disabled": "disabled",
        "removed": "Removed “lab”.",
        "confirm": ["Cancel", "Remove"],
        "unreachable": "Cannot connect to gone: is the server running, and is its base URL right?",
        "scheme": "The base URL must be an http:// or https:// address.",
        "config": "from the configuration file, read-only",
        "module_saved": "The key of “keyed” is saved.",
        "module_hint": "Key: set, ends in …57Yt, entered here.",
        "admin_line": "An administrator can connect a real model.",
        "admin_first_run": ["A better model", "Ask an administrator to connect Ollama or an OpenAI-compatible server."],
        "unavailable": "keyed (unavailable)",
        "models": "Models",
        "images_one": "images: fake-model",
        "images_all": "images: all",
        "ollama_note": "Ollama also reports which of its models read images",
        "no_vision": "Choose at least one model that reads images, or “No model”.",
        "signed_in": "Signed in as bob",
        "sign_out": "Sign out everywhere",
    },
    "ru": {
        "found": "Сервер перечисляет 2 модели: fake-model, other-model",
        "saved": "«lab» сохранено.",
        "hint": "задан, оканчивается на …93Xk",
        "no_key": "нет ключа",
        "disabled": "выключено",
        "removed": "«lab» удалено.",
        "confirm": ["Отмена", "Удалить"],
        "unreachable": "Не удаётся подключиться к gone: запущен ли сервер и верен ли его базовый URL?",
        "scheme": "Базовый URL должен быть адресом http:// или https://.",
        "config": "из файла конфигурации, только чтение",
        "module_saved": "Ключ «keyed» сохранён.",
        "module_hint": "Ключ: задан, оканчивается на …57Yt, введён здесь.",
        "admin_line": "Подключить настоящую модель может администратор.",
        "admin_first_run": ["Модель получше", "Попросите администратора подключить Ollama или сервер, совместимый с OpenAI."],
        "unavailable": "keyed (недоступен)",
        "models": "Модели",
        "images_one": "изображения: fake-model",
        "images_all": "изображения: все",
        "ollama_note": "Ollama и сам сообщает, какие его модели читают изображения",
        "no_vision": "Выберите хотя бы одну модель, которая читает изображения, или «Ни одна модель».",
        "signed_in": "Вы вошли как bob",
        "sign_out": "Выйти на всех устройствах",
    },
}


def open_connections(page):
    """Open Settings, then its Connections."""
    page.click("#settings-toggle")
    page.click("#open-connections")
    expect(page.locator("#connections")).to_be_visible()


def start_connection(page, server, lang, name, base_url):
    """Open the page in `lang`, then a new connection's form with its name and base URL filled in."""
    open_chat(page, server, f"/?lang={lang}")
    open_connections(page)
    page.click("#connection-add")
    page.fill("#connection-name", name)
    page.fill("#connection-base_url", base_url)


def item(page, name):
    """The connection called `name` in the list."""
    return page.locator(f"#connection-list [data-connection='{name}']")


def assert_key_nowhere(page, key):
    """The key is in neither the page's HTML nor any field's value."""
    assert key not in page.content()
    values = page.evaluate("() => [...document.querySelectorAll('input, textarea')].map((field) => field.value)")
    assert key not in json.dumps(values)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_an_admin_adds_tests_edits_disables_and_removes_a_connection(page, upstream, webui, lang):
    words = WORDS[lang]
    start_connection(page, webui([]), lang, "lab", upstream.url + "/v1")
    page.select_option("#connection-type", "openai")
    page.fill("#connection-api_key", CANARY)
    page.click("#connection-test")
    expect(page.locator("#connection-test-result")).to_have_text(words["found"])
    assert upstream.requests_to("/v1/models")[-1].headers["Authorization"] == f"Bearer {CANARY}"
    page.check("input[name='connection-models'][value='chosen']")
    expect(page.locator("#connection-model-list input")).to_have_count(len(MODELS))
    page.check("#connection-model-list input[value='fake-model']")
    screenshot(page, f"connection-form-{lang}")
    page.click("#connection-save")
    expect(page.locator("#connections-status")).to_have_text(words["saved"])
    expect(page.locator("#connection-form")).to_be_hidden()
    expect(item(page, "lab")).to_contain_text(words["hint"])
    assert_key_nowhere(page, CANARY)

    # In the provider list at once, with no reload, and it answers.
    expect(page.locator("#provider option[value='lab']")).to_be_attached()
    page.click("#connections-close")
    choose(page, "lab", "fake-model")
    expect(page.locator("#model option")).to_have_count(1)
    send(page, "hello")
    wait_until_idle(page)
    expect(page.locator(".message.assistant").last).to_contain_text("Hello, world")

    # Editing shows the key's hint, never the key; a disabled connection leaves the provider list.
    page.click("#open-connections")
    item(page, "lab").get_by_role("button").first.click()
    expect(page.locator("#connection-key-text")).to_have_text(words["hint"])
    expect(page.locator("#connection-api_key")).to_be_hidden()
    expect(page.locator("#connection-model-list input[value='fake-model']")).to_be_checked()
    assert_key_nowhere(page, CANARY)
    page.fill("#connection-context_length", "4096")
    page.uncheck("#connection-enabled")
    page.click("#connection-save")
    expect(item(page, "lab")).to_contain_text(words["disabled"])
    expect(page.locator("#provider option[value='lab']")).to_have_count(0)
    screenshot(page, f"connections-{lang}")
    stored = json.loads(page_fetch(page, "GET", "/api/connections")[1])["connections"]
    assert [(c["name"], c["models"], c["context_length"], c["enabled"], c["key_set"]) for c in stored] == [
        ("lab", ["fake-model"], 4096, False, True)
    ]

    # The key can be cleared; the connection removed after a confirmation.
    item(page, "lab").get_by_role("button").first.click()
    page.click("#connection-key-clear")
    page.click("#connection-save")
    expect(item(page, "lab")).to_contain_text(words["no_key"])
    item(page, "lab").get_by_role("button").last.click()
    expect(page.locator("#confirm-dialog button")).to_have_text(words["confirm"])
    page.click("#confirm-dialog button[value='confirm']")
    expect(page.locator("#connections-status")).to_have_text(words["removed"])
    expect(item(page, "lab")).to_have_count(0)
    assert json.loads(page_fetch(page, "GET", "/api/connections")[1])["connections"] == []
    assert_key_nowhere(page, CANARY)


def stored_vision(page):
    """The `vision` of each connection the API lists, by name."""
    return {c["name"]: c["vision"] for c in json.loads(page_fetch(page, "GET", "/api/connections")[1])["connections"]}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_which_models_read_images_is_chosen_on_the_form_and_kept(page, upstream, webui, lang):
    words = WORDS[lang]
    start_connection(page, webui([]), lang, "lab", upstream.url + "/v1")
    page.click("#connection-test")
    expect(page.locator("#connection-test-result")).to_have_text(words["found"])
    # Picked among the models the test found; one typed here is known to the models offered too, unchosen there.
    expect(page.locator("#connection-vision-choice")).to_be_hidden()
    page.check("input[name='connection-vision'][value='chosen']")
    expect(page.locator("#connection-vision-list input")).to_have_count(len(MODELS))
    page.check("#connection-vision-list input[value='fake-model']")
    page.fill("#connection-vision-typed", "typed-vl")
    page.press("#connection-vision-typed", "Enter")
    expect(page.locator("#connection-vision-list input[value='typed-vl']")).to_be_checked()
    page.check("input[name='connection-models'][value='chosen']")
    expect(page.locator("#connection-model-list input")).to_have_count(len(MODELS) + 1)
    expect(page.locator("#connection-model-list input[value='typed-vl']")).not_to_be_checked()
    page.check("input[name='connection-models'][value='all']")
    page.uncheck("#connection-vision-list input[value='typed-vl']")
    # Only an Ollama server says itself which models read images.
    expect(page.locator("#connection-vision-ollama")).to_be_hidden()
    page.select_option("#connection-type", "ollama")
    expect(page.locator("#connection-vision-ollama")).to_contain_text(words["ollama_note"])
    page.select_option("#connection-type", "openai")
    expect(page.locator("#connection-vision-ollama")).to_be_hidden()
    screenshot(page, f"connection-vision-{lang}")
    page.click("#connection-save")
    expect(page.locator("#connections-status")).to_have_text(words["saved"])
    expect(item(page, "lab")).to_contain_text(words["images_one"])
    assert stored_vision(page) == {"lab": ["fake-model"]}

    # Reopened, the form shows the choice kept; a chosen list with nothing in it is refused on the field.
    item(page, "lab").get_by_role("button").first.click()
    expect(page.locator("input[name='connection-vision'][value='chosen']")).to_be_checked()
    expect(page.locator("#connection-vision-list input")).to_have_count(1)
    expect(page.locator("#connection-vision-list input[value='fake-model']")).to_be_checked()
    page.uncheck("#connection-vision-list input[value='fake-model']")
    page.click("#connection-save")
    expect(page.locator("#connection-error-vision")).to_have_text(words["no_vision"])
    assert stored_vision(page) == {"lab": ["fake-model"]}

    page.check("input[name='connection-vision'][value='all']")
    expect(page.locator("#connection-vision-choice")).to_be_hidden()
    page.click("#connection-save")
    expect(item(page, "lab")).to_contain_text(words["images_all"])
    assert stored_vision(page) == {"lab": True}
    item(page, "lab").get_by_role("button").first.click()
    expect(page.locator("input[name='connection-vision'][value='all']")).to_be_checked()


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_an_unreachable_address_and_a_refused_field_are_said_in_the_pages_language(page, webui, page_errors, lang):
    words = WORDS[lang]
    start_connection(page, webui([]), lang, "gone", f"http://127.0.0.1:{closed_port()}/v1")
    page.click("#connection-test")
    # Worded as the form labels the field (Base URL), not as the config file's key.
    expect(page.locator("#connection-test-result")).to_have_text(words["unreachable"])
    expect(page.locator("#connection-test-result")).to_have_class("test-result failed")
    screenshot(page, f"connection-unreachable-{lang}")
    # The server's refusal of a field shows on that field, and nothing is stored.
    page.fill("#connection-base_url", "ftp://127.0.0.1/v1")
    page.click("#connection-save")
    expect(page.locator("#connection-error-base_url")).to_have_text(words["scheme"])
    expect(page.locator("#connection-base_url")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#connection-form")).to_be_visible()
    assert json.loads(page_fetch(page, "GET", "/api/connections")[1])["connections"] == []
    # The browser logs the two refusals it was made to provoke.
    page_errors[:] = [error for error in page_errors if "status of 502" not in error and "status of 400" not in error]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_server_of_the_config_file_is_listed_read_only(page, upstream, webui, lang):
    config_key = "sk-from-the-config-file-2468"
    entry = {"name": "cfg", "type": "ollama", "base_url": upstream.url, "api_key": config_key, "models": ["m"], "vision": True}
    server = webui([entry])
    open_chat(page, server, f"/?lang={lang}")
    open_connections(page)
    expect(item(page, "cfg")).to_contain_text(WORDS[lang]["config"])
    expect(item(page, "cfg")).to_contain_text(WORDS[lang]["images_all"])
    expect(item(page, "cfg")).to_contain_text(upstream.url)
    # No Edit or Remove: only the Models of an Ollama server (tests/test_browser_ollama_models.py).
    expect(item(page, "cfg").get_by_role("button")).to_have_text([WORDS[lang]["models"]])
    assert config_key not in page.content()


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_modules_key_is_entered_on_the_page_and_in_effect_at_once(page, keyed, webui, providers_dir, lang):
    server = webui([], WEBUI_PROVIDERS_DIR=str(providers_dir))
    words = WORDS[lang]
    open_chat(page, server, f"/?lang={lang}")
    expect(page.locator("#provider option[value='keyed']")).to_have_text(words["unavailable"])
    open_connections(page)
    module = page.locator("#module-key-list [data-module='keyed']")
    expect(module).to_contain_text(words["no_key"])
    module.locator("input").fill(MODULE_CANARY)
    module.get_by_role("button").click()
    expect(page.locator("#connections-status")).to_have_text(words["module_saved"])
    expect(page.locator("#module-key-list [data-module='keyed']")).to_contain_text(words["module_hint"])
    expect(page.locator("#provider option[value='keyed']")).to_have_text("keyed")
    assert_key_nowhere(page, MODULE_CANARY)
    page.click("#connections-close")
    choose(page, "keyed", "keyed-model")
    send(page, "hello")
    wait_until_idle(page)
    expect(page.locator(".message.assistant").last).to_contain_text("the key was given")
    assert keyed()[-1] == MODULE_CANARY
