"""[[providers]] entries: read from the TOML file, validated, and bad ones listed as unavailable with what is wrong."""
import pytest

from fake_upstream import upstream  # noqa: F401 (a fixture)
from webui import create_app
from webui.config import ConfigError
from webui.errors import ProviderError

GOOD = {"name": "lab", "type": "openai", "base_url": "http://127.0.0.1:9/v1", "models": ["m"]}


def listing(tmp_path, providers=None, **settings):
    """The /api/providers entries of an app with these [[providers]] (or those of its config file), by name."""
    overrides = {"WEBUI_PROVIDERS": providers} if providers is not None else {}
    app = create_app({"TESTING": True, "WEBUI_DATA_DIR": str(tmp_path / "data"), **overrides, **settings})
    return {p["name"]: p for p in app.test_client().get("/api/providers").get_json()["providers"]}


def test_a_toml_file_configures_providers_side_by_side(tmp_path, upstream, monkeypatch):
    monkeypatch.setenv("LAB_API_KEY", "sk-fromtheenvironment1")
    config = tmp_path / "webui.toml"
    config.write_text(
        f"""
[[providers]]
name = "lab"
type = "openai"
base_url = "{upstream.url}/v1"
api_key_env = "LAB_API_KEY"

[[providers]]
name = "lab2"
type = "openai"
base_url = "{upstream.url}/v1"
api_key = "sk-fromthefile123456"
models = ["qwen2.5-7b"]

[[providers]]
name = "box"
type = "ollama"
base_url = "{upstream.url}"
timeout = 2
read_timeout = 30
models_ttl = 5
""",
        encoding="utf-8",
    )
    providers = listing(tmp_path, WEBUI_CONFIG=str(config))
    assert list(providers) == ["local", "lab", "lab2", "box", "auto"]
    assert providers["lab"]["models"] == ["fake-model", "other-model"] and providers["lab"]["needs_auth"]
    assert providers["lab2"]["models"] == ["qwen2.5-7b"]
    assert providers["box"]["available"] and providers["box"]["default_model"] == "fake-model"
    assert providers["auto"]["models"] == ["default"]
    keys = {r.headers.get("Authorization") for r in upstream.requests_to("/v1/models")}
    assert keys == {"Bearer sk-fromtheenvironment1"}, "lab2 has its models configured and must not be asked"


@pytest.mark.parametrize(
    "entry, listed_as, problem",
    [
        ({**GOOD, "name": "x", "type": "anthropic"}, "x", "the type must be “openai” or “ollama”, not “anthropic”"),
        ({"name": "x", "type": "openai"}, "x", "“base_url” is required"),
        ({**GOOD, "name": "x", "base_url": "file:///etc/passwd"}, "x", "“base_url” must be an http:// or https:// address"),
        ({**GOOD, "name": "x", "base-url": "http://a"}, "x", "“base-url” is not a known setting"),
        ({**GOOD, "name": "x", "api_key": "k", "api_key_env": "K"}, "x", "give “api_key” or “api_key_env”, not both"),
        ({**GOOD, "name": "x", "models": "m"}, "x", "“models” must be a list of model names"),
        ({**GOOD, "name": "x", "read_timeout": 0}, "x", "“read_timeout” must be a number of seconds above zero"),
        ({**GOOD, "name": "x", "timeout": "5"}, "x", "“timeout” must be a number of seconds above zero"),
        ({**GOOD, "name": "x", "context_length": 0}, "x", "“context_length” must be a whole number of tokens above zero"),
        ({**GOOD, "name": "x", "context_length": 4096.5}, "x", "“context_length” must be a whole number of tokens above zero"),
        ({**GOOD, "name": ""}, "[[providers]] #2", "“name” must be non-empty text"),
        ({**GOOD, "name": "lab"}, "[[providers]] #2", "the name “lab” is already taken"),
        ({**GOOD, "name": "local"}, "[[providers]] #2", "the name “local” is already taken"),
        ({**GOOD, "name": "auto"}, "[[providers]] #2", "the name “auto” is already taken"),
        ("lab", "[[providers]] #2", "it must be a table of settings"),
    ],
)
def test_a_bad_entry_is_listed_with_what_is_wrong_and_the_rest_work(tmp_path, entry, listed_as, problem):
    providers = listing(tmp_path, [GOOD, entry])
    bad = providers[listed_as]
    assert bad["available"] is False
    assert bad["error"] == f"The [[providers]] entry #2 cannot be used: {problem}."
    assert providers["lab"]["available"] and providers["lab"]["models"] == ["m"]
    assert "auto" in providers


def test_a_bad_entry_cannot_be_used_for_chat(tmp_path):
    app = create_app({"TESTING": True, "WEBUI_DATA_DIR": str(tmp_path), "WEBUI_PROVIDERS": [{**GOOD, "type": "x"}]})
    with app.test_request_context():
        provider = app.extensions["webui.registry"].get("lab")
        with pytest.raises(ProviderError) as info:
            list(provider.complete("m", [{"role": "user", "content": "hi"}]))
    assert info.value.code == "bad_config"


def test_providers_must_be_a_list_of_tables(tmp_path):
    with pytest.raises(ConfigError, match=r"\[\[providers\]\]"):
        create_app({"TESTING": True, "WEBUI_DATA_DIR": str(tmp_path), "WEBUI_PROVIDERS": {"name": "lab"}})


def test_a_key_variable_that_is_not_set_makes_the_provider_wait_for_it(tmp_path, upstream, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    entry = {"name": "lab", "type": "openai", "base_url": upstream.url + "/v1", "api_key_env": "NOT_SET_ANYWHERE"}
    lab = listing(tmp_path, [entry])["lab"]
    assert lab["available"] is False and lab["needs_auth"] is True
    assert lab["error"] == "lab needs a key: set the environment variable NOT_SET_ANYWHERE."
    assert upstream.seen == []


def test_auto_appears_only_with_a_usable_server(tmp_path):
    assert "auto" not in listing(tmp_path, [])
    assert "auto" not in listing(tmp_path, [{**GOOD, "type": "x"}])
    assert "auto" in listing(tmp_path, [GOOD])
