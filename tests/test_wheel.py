"""The built wheel carries the templates, static files and catalogs, and `webui serve` runs from it with nothing but
the dependencies it declares."""
import importlib.util
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from conftest import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("smoke", ROOT / "scripts" / "smoke.py")
smoke = importlib.util.module_from_spec(spec)
spec.loader.exec_module(smoke)


def run(*command, **kwargs):
    """Run a command, failing with its output if it fails."""
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def declared_closure(name):
    """The distributions `name` needs, as its metadata declares them (no extras), and theirs, recursively."""
    needed, todo = set(), [name]
    while todo:
        distribution = metadata.distribution(todo.pop())
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            key = requirement.name.lower().replace("_", "-")
            if key not in needed:
                needed.add(key)
                todo.append(requirement.name)
    return needed


def expose(names, folder):
    """Link into `folder` the installed files of these distributions only, as a site directory holding just them."""
    folder.mkdir()
    for name in names:
        distribution = metadata.distribution(name)
        for top in {Path(str(f)).parts[0] for f in distribution.files or [] if not str(f).startswith("..")}:
            target = folder / top
            if not target.exists():
                target.symlink_to(distribution.locate_file(top))


def test_installed_wheel_serves_and_answers_with_only_its_declared_dependencies(tmp_path):
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", ROOT)
    (wheel,) = (tmp_path / "dist").glob("webui-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in ("webui/templates/index.html", "webui/static/app.js", "webui/translations/ru/LC_MESSAGES/messages.mo",
                     "webui/storage/alembic/env.py", "webui/storage/alembic/versions/r0001_baseline.py"):
        assert expected in names

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    # The dependencies come from this environment so the test needs no network, but only those the wheel declares:
    # a package the test extras happen to bring in is not there.
    expose(declared_closure("webui"), tmp_path / "declared")
    (purelib / "declared_dependencies.pth").write_text(str(tmp_path / "declared") + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", wheel)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = smoke.user_environment(tmp_path / "data")
    assert run(python, "-c", "import webui; print(webui.__file__)", cwd=elsewhere, env=env).startswith(str(venv))

    server = ServerProcess([venv / "bin" / "webui", "--port", "0", "serve"], cwd=elsewhere, env=env, timeout=120)
    try:
        smoke.check_page(server.url)
        assert run(python, ROOT / "scripts" / "smoke.py", "--answer", server.url, cwd=elsewhere, env=env).strip()
    finally:
        server.stop()
