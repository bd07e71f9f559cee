"""The provider registry: /api/providers, drop-in modules, the local provider's model list."""
import os

import pytest

from conftest import LiveServer, chat, delta_seqs
from webui import create_app
from webui.providers.local import bundled_model_path


def by_name(listing):
    """Index the providers of a listing by name."""
    return {p["name"]: p for p in listing["providers"]}


def test_listing_shape(client):
    listing = client.get("/api/providers").get_json()
    assert listing["default"] == "local"
    keys = {"name", "label", "models", "default_model", "supports_stream", "needs_auth", "available", "error", "defaults", "demo_model"}
    assert all(set(p) == keys for p in listing["providers"])
    local = by_name(listing)["local"]
    # The page shows these as the values a request that leaves an option out gets, and says the bundled model is a demo.
    assert local["defaults"] == {"max_tokens": 512, "temperature": 0.6, "top_p": 0.9, "repeat_penalty": 1.2}
    assert local["demo_model"] == bundled_model_path().stem
    assert by_name(listing)["testing"]["defaults"] == {} and by_name(listing)["testing"]["demo_model"] is None


def test_local_provider_offers_the_bundled_model(client):
    local = by_name(client.get("/api/providers").get_json())["local"]
    assert local["available"] and local["error"] is None
    assert local["default_model"] == bundled_model_path().stem
    assert bundled_model_path().stat().st_size > 10_000_000


def test_models_dir_adds_every_gguf(tmp_path, app_config):
    models = tmp_path / "models"
    models.mkdir()
    os.symlink(bundled_model_path(), models / "my-model.gguf")
    (models / "notes.txt").write_text("not a model")
    app = create_app({**app_config, "WEBUI_MODELS_DIR": str(models)})
    local = by_name(app.test_client().get("/api/providers").get_json())["local"]
    assert local["models"] == [bundled_model_path().stem, "my-model"]


def test_a_classic_module_works_unchanged(client, server):
    classic = by_name(client.get("/api/providers").get_json())["classic_module"]
    assert classic["available"] and classic["models"] == ["classic-1"] and classic["supports_stream"] is False
    ws = server.connect()
    ws.send(chat("c", "hi there", provider="classic_module", model="classic-1"))
    frames = ws.until_final("c")
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == "classic says: hi there"
    assert frames[-1]["reason"] == "complete"


def test_a_module_may_return_a_string_or_yield_chunks_that_are_not_text(providers_dir, app_config):
    source = (
        "url = 'x'\nmodel = ['whole', 'mixed']\nsupports_stream = True\nneeds_auth = False\n"
        "def _create_completion(model, messages, stream, **kwargs):\n"
        "    if model == 'whole':\n        return 'all at once'\n"
        "    return iter(['a', '', None, 7, 0, 2.5, b'', 'z'])\n"
    )
    (providers_dir / "loose.py").write_text(source)
    live = LiveServer(create_app(app_config))
    try:
        ws = live.connect()
        answers = {}
        for model in ("whole", "mixed"):
            ws.send(chat(model, provider="loose", model=model))
            answers[model] = ws.until_final(model)
        ws.close()
    finally:
        live.stop()
    assert [frames[-1]["type"] for frames in answers.values()] == ["done", "done"]
    text = {model: "".join(f["text"] for f in frames if f["type"] == "delta") for model, frames in answers.items()}
    assert text == {"whole": "all at once", "mixed": "a72.5z"}
    # Empty and false chunks are skipped, so the last seq counts four chunks.
    assert delta_seqs(answers["mixed"])[-1] == 4


def test_a_broken_module_is_listed_with_its_error(client):
    broken = by_name(client.get("/api/providers").get_json())["broken_module"]
    assert broken["available"] is False
    assert "a_package_that_is_not_installed" in broken["error"]
    assert broken["models"] == []


def test_module_errors_are_translated(client):
    listing = client.get("/api/providers", headers={"Accept-Language": "ru"}).get_json()
    assert by_name(listing)["broken_module"]["error"].startswith("Не удалось загрузить broken_module.py")


GENERATOR = "def _create_completion(model, messages, stream, **kwargs):\n    yield 'x'\n"


@pytest.mark.parametrize(
    "source, error",
    [
        ("url = 'x'\n", "ImportError: the module has no model, _create_completion"),
        ("import sys\nsys.exit('set LAB_TOKEN first')\n", "SystemExit: set LAB_TOKEN first"),
        ("raise RuntimeError('no GPU here')\n", "RuntimeError: no GPU here"),
    ],
)
def test_a_module_that_fails_its_import_or_contract_is_listed_broken_and_the_rest_serve(providers_dir, app_config,
                                                                                          source, error):
    (providers_dir / "halfway.py").write_text(source)
    client = create_app(app_config).test_client()
    providers = by_name(client.get("/api/providers").get_json())
    assert (providers["halfway"]["available"], providers["halfway"]["error"]) == (
        False, f"halfway.py could not be loaded: {error}")
    assert providers["testing"]["available"] is True


def test_a_module_that_needs_a_key_waits_for_one(providers_dir, app_config):
    source = (
        "url = 'x'\nmodel = 'm'\nsupports_stream = True\nneeds_auth = True\n"
        "def _create_completion(model, messages, stream, **kwargs):\n    yield 'key=' + kwargs['auth']\n"
    )
    (providers_dir / "keyed.py").write_text(source)
    unkeyed = by_name(create_app(app_config).test_client().get("/api/providers").get_json())["keyed"]
    assert not unkeyed["available"] and "[provider_keys]" in unkeyed["error"]
    keyed_app = create_app({**app_config, "WEBUI_PROVIDER_KEYS": {"keyed": "secret-value"}})
    keyed = by_name(keyed_app.test_client().get("/api/providers").get_json())["keyed"]
    assert keyed["available"] and "secret-value" not in str(keyed)


def test_a_modules_long_error_reaches_the_page_and_the_log_short_and_without_its_key(providers_dir, app_config, caplog):
    source = (
        "import base64\nurl = 'x'\nmodel = 'm'\nsupports_stream = True\nneeds_auth = True\n"
        "def _create_completion(model, messages, stream, **kwargs):\n"
        "    yield 'x'\n"
        "    raise RuntimeError('KEY ' + kwargs['auth'].upper() + ' or ' + base64.b64encode(kwargs['auth'].encode()).decode()"
        " + ' said:\\n' + 'blah ' * 200_000)\n"
    )
    (providers_dir / "wordy.py").write_text(source)
    key = "wordy-key-0123456789"
    live = LiveServer(create_app({**app_config, "WEBUI_PROVIDER_KEYS": {"wordy": key}}))
    try:
        ws = live.connect()
        ws.send(chat("w", provider="wordy", model="m"))
        error = ws.until_final("w")[-1]
    finally:
        live.stop()
    assert error["code"] == "provider_error"
    assert error["message"].startswith("The provider failed: RuntimeError: KEY [redacted] or [redacted] said: blah")
    assert len(error["message"]) < 1100 and error["message"].endswith("…")
    logged = [record.getMessage() for record in caplog.records if "wordy" in record.getMessage()]
    assert logged and all(len(line) < 1100 and "[redacted]" in line for line in logged)
    assert all(key.upper() not in text.upper() for text in [error["message"], caplog.text])


RAISING_MODELS = "class Models:\n    def __iter__(self):\n        raise RuntimeError('cannot list')\nmodel = Models()\n"


@pytest.mark.parametrize(
    "models, error",
    [
        (RAISING_MODELS, "RuntimeError"),
        ("model = None\n", "TypeError"),
        ("model = 3\n", "TypeError"),
        ("model = ['a', 3]\n", "“model” must be a name or a list of names"),
    ],
)
def test_a_module_whose_models_cannot_be_listed_is_unavailable_in_the_listing_and_to_a_chat(
        providers_dir, app_config, models, error):
    (providers_dir / "moody.py").write_text("url = 'x'\nsupports_stream = True\n" + models + GENERATOR)
    app = create_app(app_config)
    response = app.test_client().get("/api/providers")
    assert response.status_code == 200
    moody = by_name(response.get_json())["moody"]
    message = f"moody.py could not list its models: {error}"
    assert (moody["available"], moody["error"], moody["models"]) == (False, message, [])
    live = LiveServer(app)
    try:
        ws = live.connect()
        ws.send(chat("m", provider="moody", model="a"))
        refused = ws.recv()
        ws.close()
    finally:
        live.stop()
    assert refused == {"type": "error", "request_id": "m", "code": "provider_unavailable", "message": message}


def test_the_page_offers_its_lan_address_only_beyond_loopback(app_config):
    loopback = create_app(app_config).test_client().get("/").get_data(as_text=True)
    assert 'data-lan-url=""' in loopback
    lan = create_app({**app_config, "WEBUI_HOST": "192.0.2.10", "WEBUI_NO_AUTH": True}).test_client()
    assert 'data-lan-url="http://192.0.2.10:80/"' in lan.get("/").get_data(as_text=True)


def test_built_in_labels_follow_the_language(client):
    english = by_name(client.get("/api/providers", headers={"Accept-Language": "en"}).get_json())["local"]
    russian = by_name(client.get("/api/providers", headers={"Accept-Language": "ru"}).get_json())["local"]
    assert english["label"] == "Local (llama.cpp)" and russian["label"] == "Локальная (llama.cpp)"
