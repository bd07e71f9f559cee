"""The `webui` command, started the way a person starts it."""
import os
import subprocess
import sys
import urllib.request

from conftest import ServerProcess
from webui.serving.arbiter import display_url


def clean_env(**extra):
    """The environment without WEBUI_* settings from outside the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBUI_")}
    return {**env, **extra}


def server_command(data_dir, providers_dir, *args, **settings):
    """`webui --port 0 *args` and its environment: the test's data folder and providers, no pings, and `settings`."""
    env = clean_env(WEBUI_DATA_DIR=str(data_dir), WEBUI_PROVIDERS_DIR=str(providers_dir), WEBUI_PING_INTERVAL="0", **settings)
    return [sys.executable, "-m", "webui", "--port", "0", *args], env


def test_python_m_webui_serves_the_page_and_prints_the_url(tmp_path):
    config = tmp_path / "webui.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    server = ServerProcess([sys.executable, "-m", "webui", "--port", "0", "--config", str(config)], env=clean_env())
    try:
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.url + "/", timeout=10) as response:
            assert response.status == 200 and b'id="messages"' in response.read()
        assert (tmp_path / "data").is_dir()
    finally:
        server.stop()


def test_flags_beat_the_environment(tmp_path):
    env = clean_env(WEBUI_PORT="1", WEBUI_DATA_DIR=str(tmp_path))
    server = ServerProcess([sys.executable, "-m", "webui", "--port", "0"], env=env)
    try:
        assert not server.url.endswith(":1")
    finally:
        server.stop()


def test_a_bad_config_file_is_a_message_not_a_trace(tmp_path):
    config = tmp_path / "broken.toml"
    config.write_text("port = [\n")
    result = subprocess.run(
        [sys.executable, "-m", "webui", "--config", str(config)], capture_output=True, text=True, timeout=60, env=clean_env()
    )
    assert result.returncode != 0
    assert "not valid TOML" in result.stderr
    assert "Traceback" not in result.stderr


def test_display_url():
    assert display_url("127.0.0.1", 1338) == "http://127.0.0.1:1338/"
    assert display_url("::1", 80) == "http://[::1]:80/"
    assert display_url("0.0.0.0", 5) == "http://127.0.0.1:5/"
