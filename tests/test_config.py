"""Settings layering: defaults < TOML file < WEBUI_* environment < explicit overrides."""
import pytest

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
