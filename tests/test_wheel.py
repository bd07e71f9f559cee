"""The built wheel carries the templates, static files and catalogs, and serves from a fresh virtualenv."""
import json
import subprocess
import sys
import sysconfig
import urllib.request
import zipfile
from pathlib import Path

from conftest import ServerProcess
from test_cli import clean_env

ROOT = Path(__file__).resolve().parent.parent


def run(*command, **kwargs):
    """Run a command, failing with its output if it fails."""
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def fetch(url, **headers):
    """GET a URL and return (status, body)."""
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
        return response.status, response.read().decode()


def test_installed_wheel_serves_the_page(tmp_path):
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", ROOT)
    (wheel,) = (tmp_path / "dist").glob("webui-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in ("webui/templates/index.html", "webui/static/app.js", "webui/translations/ru/LC_MESSAGES/messages.mo"):
        assert expected in names

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    # The dependencies come from the test environment, so the test needs no network; the wheel is installed for real.
    (purelib / "test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", wheel)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    location = run(python, "-c", "import webui; print(webui.__file__)", cwd=elsewhere)
    assert location.startswith(str(venv))

    server = ServerProcess([venv / "bin" / "webui", "--port", "0"], cwd=elsewhere, env=clean_env(WEBUI_DATA_DIR=str(tmp_path / "data")))
    try:
        status, html = fetch(server.url + "/", **{"Accept-Language": "ru"})
        assert status == 200 and "Отправить" in html
        assert fetch(server.url + "/static/app.js")[0] == 200
        providers = json.loads(fetch(server.url + "/api/providers")[1])
        assert [p["available"] for p in providers["providers"] if p["name"] == "local"] == [True]
    finally:
        server.stop()
