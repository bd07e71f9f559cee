"""What each process loads: the package alone nothing of the app, an app without Redis neither redis-py nor
PostgreSQL's dialect, `webui serve`'s arbiter none of the app's native libraries while its worker serves."""
import json
import subprocess
import sys

from test_cli import clean_env
from webui import create_app


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


# Builds the app on the test's data folder (at the newest schema already, so Alembic, which loads every dialect, stays
# out) and writes one row with an upsert, the one statement each database writes its own way (and takes it back).
BUILD_AND_UPSERT = """
import os
from webui import create_app
from webui.storage import get_db, module_keys
from webui.storage.database import transaction
app = create_app({"WEBUI_DATA_DIR": os.environ["LEAN_DATA_DIR"]})
with app.app_context():
    db = get_db()
    with transaction(db):
        module_keys.put(db, "lean", "sealed")
        module_keys.delete(db, "lean")
"""


def test_redis_py_and_postgresql_s_dialect_are_loaded_only_by_a_server_that_uses_them(tmp_path):
    create_app({"WEBUI_DATA_DIR": str(tmp_path)})
    env = clean_env(LEAN_DATA_DIR=str(tmp_path))
    alone = loaded_modules(BUILD_AND_UPSERT, env)
    assert "sqlalchemy.dialects.sqlite" in alone
    assert not [name for name in alone if name.split(".")[0] == "redis" or name.startswith("sqlalchemy.dialects.postgresql")]
    assert not [name for name in alone if name.startswith("webui.shared.") or name == "webui.remote_answer"]
    # Building the app with Redis connects to nothing (it connects at first use): no server is needed here.
    shared = loaded_modules(BUILD_AND_UPSERT, {**env, "WEBUI_REDIS_URL": "redis://127.0.0.1:9/0"})
    assert {"redis", "webui.shared.limits", "webui.shared.answer_log", "webui.shared.answer_reader"} <= shared

