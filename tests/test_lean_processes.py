"""What each process loads: the package alone nothing of the app, an app without Redis neither redis-py nor
PostgreSQL's dialect, `webui serve`'s arbiter none of the app's native libraries while its worker serves."""
import json
import subprocess
import sys


def loaded_modules(code, env=None):
    """The names in sys.modules once a fresh Python has run `code`."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_importing_the_package_loads_no_part_of_the_app():
    modules = loaded_modules("import webui")
    assert {"flask", "sqlalchemy", "webui.app"}.isdisjoint(modules)
    assert [name for name in modules if name.startswith("webui")] == ["webui"]
