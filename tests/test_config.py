"""Settings layering: defaults < TOML file < WEBUI_* environment < explicit overrides."""
import subprocess
import sys

import pytest

from fake_upstream import upstream  # noqa: F401 (a fixture)
from test_cli import clean_env
from webui import create_app
from webui.config import DEFAULTS, ConfigError, load


def test_defaults_apply_without_any_source():
    settings = load(environ={})
    assert settings["WEBUI_HOST"] == "127.0.0.1" and settings["WEBUI_PORT"] == 1338


def test_layers_override_in_order(tmp_path):
    toml = tmp_path / "webui.toml"
    toml.write_text('host = "127.0.0.2"\nport = 2000\nmodels_dir = "/from/toml"\n')
    environ = {"WEBUI_CONFIG": str(toml), "WEBUI_PORT": "3000", "UNRELATED": "x"}
    settings = load({"WEBUI_HOST": "127.0.0.3"}, environ=environ)
    assert settings["WEBUI_MODELS_DIR"] == "/from/toml"
    assert settings["WEBUI_PORT"] == 3000
    assert settings["WEBUI_HOST"] == "127.0.0.3"
    assert "UNRELATED" not in settings


def test_config_flag_beats_environment_for_the_file_itself(tmp_path):
    (tmp_path / "a.toml").write_text("port = 1\n")
    (tmp_path / "b.toml").write_text("port = 2\n")
    settings = load({"WEBUI_CONFIG": str(tmp_path / "b.toml")}, environ={"WEBUI_CONFIG": str(tmp_path / "a.toml")})
    assert settings["WEBUI_PORT"] == 2


@pytest.mark.parametrize(
    "content, environ, fragment",
    [("port = [", {}, "not valid TOML"), (None, {}, "cannot read"), ("", {"WEBUI_PORT": "eighty"}, "whole number")],
)
def test_bad_settings_say_what_is_wrong(tmp_path, content, environ, fragment):
    path = tmp_path / "webui.toml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=fragment):
        load({"WEBUI_CONFIG": str(path)}, environ=environ)


def test_every_default_is_prefixed():
    assert all(key.startswith("WEBUI_") for key in DEFAULTS)


def test_data_dir_defaults_to_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("WEBUI_DATA_DIR", raising=False)
    app = create_app({"TESTING": True})
    assert app.config["WEBUI_DATA_DIR"] == app.instance_path


def test_nothing_is_read_at_import_time(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBUI_PORT", "4321")
    assert create_app({"WEBUI_DATA_DIR": str(tmp_path)}).config["WEBUI_PORT"] == 4321
    monkeypatch.setenv("WEBUI_PORT", "4322")
    assert create_app({"WEBUI_DATA_DIR": str(tmp_path)}).config["WEBUI_PORT"] == 4322


LAB = '{name = "lab", type = "openai", base_url = "%s/v1", models = ["fake-model"], timeout = 2, read_timeout = 5}'


@pytest.mark.parametrize(
    "providers, keys",
    [
        ("[" + LAB % "http://127.0.0.1:9" + "]", '{keyed = "secret-value"}'),
        ("[[providers]]\n" + LAB.strip("{}").replace(", ", "\n") % "http://127.0.0.1:9",
         '[provider_keys]\nkeyed = "secret-value"'),
    ],
    ids=["inline", "as in the file"],
)
def test_providers_and_their_keys_are_toml_in_the_environment(tmp_path, providers_dir, monkeypatch, providers, keys):
    (providers_dir / "keyed.py").write_text(
        "url = 'x'\nmodel = 'm'\nsupports_stream = True\nneeds_auth = True\n"
        "def _create_completion(model, messages, stream, **kwargs):\n    yield 'ok'\n"
    )
    monkeypatch.setenv("WEBUI_PROVIDERS", providers)
    monkeypatch.setenv("WEBUI_PROVIDER_KEYS", keys)
    app = create_app({"TESTING": True, "WEBUI_DATA_DIR": str(tmp_path), "WEBUI_PROVIDERS_DIR": str(providers_dir)})
    listed = {p["name"]: p for p in app.test_client().get("/api/providers").get_json()["providers"]}
    assert listed["lab"]["models"] == ["fake-model"] and listed["keyed"]["available"]


@pytest.mark.parametrize(
    "environ, fragment",
    [
        ({"WEBUI_PROVIDERS": "lab"}, "WEBUI_PROVIDERS is not valid TOML"),
        ({"WEBUI_PROVIDERS": '{name = "lab"}'}, "WEBUI_PROVIDERS must be written like"),
        ({"WEBUI_PROVIDER_KEYS": "[]"}, "WEBUI_PROVIDER_KEYS must be written like"),
        ({"WEBUI_PROVIDER_KEYS": "{keyed = 5}"}, "WEBUI_PROVIDER_KEYS must be written like"),
    ],
)
def test_bad_toml_in_the_environment_says_what_to_write(environ, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load(environ=environ)


def test_webui_check_uses_providers_from_the_environment(upstream, tmp_path):
    env = clean_env(WEBUI_DATA_DIR=str(tmp_path), WEBUI_PROVIDERS="[" + LAB % upstream.url + "]", LANG="C")
    command = [sys.executable, "-m", "webui", "check", "--provider", "lab"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0 and result.stdout.startswith("lab: ok (fake-model)"), result.stdout + result.stderr
    bad = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**env, "WEBUI_PROVIDERS": "[{name"})
    assert bad.returncode != 0 and "WEBUI_PROVIDERS is not valid TOML" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize(
    "key, value",
    [("WEBUI_SHUTDOWN_GRACE_SECONDS", -1), ("WEBUI_DATABASE_TIMEOUT", -0.5), ("WEBUI_LOCAL_THREADS", -2),
     ("WEBUI_MAX_QUEUED_BYTES", "lots")],
)
def test_a_negative_or_unnumbered_count_stops_the_start_and_changes_nothing(tmp_path, key, value):
    data = tmp_path / "data"
    with pytest.raises(ConfigError, match=f"{key} must be a number, 0 or more"):
        create_app({"WEBUI_DATA_DIR": str(data), key: value})
    assert not data.exists()


def test_zero_and_no_value_are_allowed_where_they_mean_off_or_all(tmp_path):
    app = create_app({"WEBUI_DATA_DIR": str(tmp_path), "WEBUI_SHUTDOWN_GRACE_SECONDS": 0, "WEBUI_LOCAL_THREADS": None})
    assert app.config["WEBUI_SHUTDOWN_GRACE_SECONDS"] == 0 and app.config["WEBUI_LOCAL_THREADS"] is None


def test_local_threads_from_the_environment_are_a_number():
    assert load(environ={"WEBUI_LOCAL_THREADS": "2"})["WEBUI_LOCAL_THREADS"] == 2
    with pytest.raises(ConfigError, match="WEBUI_LOCAL_THREADS must be a whole number"):
        load(environ={"WEBUI_LOCAL_THREADS": "all"})


def test_a_value_from_the_config_file_is_checked_too(tmp_path):
    path = tmp_path / "webui.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\nshutdown_grace_seconds = -10\n')
    with pytest.raises(ConfigError, match="WEBUI_SHUTDOWN_GRACE_SECONDS must be a number, 0 or more, not -10"):
        create_app({"WEBUI_CONFIG": str(path)})


@pytest.mark.parametrize("lang, words", [("C", "must be a number, 0 or more, not -1"), ("ru_RU.UTF-8", "должен быть числом")])
def test_a_negative_grace_is_one_line_in_the_terminals_language(tmp_path, lang, words):
    env = clean_env(WEBUI_DATA_DIR=str(tmp_path), WEBUI_SHUTDOWN_GRACE_SECONDS="-1", LANG=lang, LC_ALL="", LC_MESSAGES="")
    result = subprocess.run([sys.executable, "-m", "webui", "user", "list"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode != 0 and result.stdout == "", result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert "WEBUI_SHUTDOWN_GRACE_SECONDS" in line and words in line
