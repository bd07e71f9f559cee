"""`webui secret rotate`: every stored key re-sealed under a new key in one transaction, through the real command."""
import os
import sqlite3
import stat
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from conftest import Browser, LiveServer, ServerProcess
from fake_upstream import upstream  # noqa: F401 (fixture)
from test_cli import clean_env
from test_connections import lab, send
from test_secrets import flip
from webui import create_app
from webui.config import ConfigError
from webui.commands.secrets import reseal
from webui.secrets import KEY_FILE, SecretBox, SecretError, derive_key, get_box

KEYS = {"lab": "sk-rotate-canary-0001", "lab2": "sk-rotate-canary-0002"}
OLD_SETTING = "the old secret setting, long enough"
NEW_SETTING = "the new secret setting, also long"


def settings(data_dir, **extra):
    """The settings of an app on `data_dir`."""
    return {"TESTING": True, "WEBUI_DATA_DIR": str(data_dir), "WEBUI_PING_INTERVAL": 0, "WEBUI_TITLES": False, **extra}


def stored_connections(upstream, data_dir, **extra):
    """A data folder with three connections made from the page (two with keys, one without), its server stopped."""
    server = LiveServer(create_app(settings(data_dir, **extra)))
    try:
        admin = Browser(server.url)
        for name, key in [*KEYS.items(), ("keyless", None)]:
            body = lab(upstream, name=name, **({"api_key": key} if key else {}))
            assert send(admin, "POST", "/api/connections", json=body).status_code == 201
    finally:
        server.stop()


def tokens(data_dir):
    """Each connection's stored token, by name."""
    with closing(sqlite3.connect(Path(data_dir) / "webui.sqlite3")) as db:
        return dict(db.execute("SELECT name, api_key FROM connections"))


def database_bytes(data_dir):
    """Every byte of the database's files."""
    return b"".join(path.read_bytes() for path in sorted(Path(data_dir).glob("webui.sqlite3*")))


def rotate(data_dir, *args, lang="C", **env):
    """`webui secret rotate ARGS` in a process of its own, as a person runs it."""
    command = [sys.executable, "-m", "webui", "secret", "rotate", *args]
    environment = clean_env(WEBUI_DATA_DIR=str(data_dir), LANG=lang, LC_ALL="", LC_MESSAGES="", **env)
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=environment)


def opened(data_dir, key):
    """The stored keys, opened with `key`, by name."""
    box = SecretBox(key)
    return {name: box.decrypt(token) for name, token in tokens(data_dir).items() if token}


def check_lab(data_dir, upstream, **env):
    """`webui check --provider lab` run as a person runs it: the Authorization header the server got from it."""
    command = [sys.executable, "-m", "webui", "check", "--provider", "lab"]
    environment = clean_env(WEBUI_DATA_DIR=str(data_dir), LANG="C", WEBUI_TITLES="0", **env)
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    return upstream.requests_to("/v1/chat/completions")[-1].headers["Authorization"]


def test_rotating_the_key_file_reseals_every_key_and_the_server_uses_them(upstream, tmp_path):
    data = tmp_path / "data"
    stored_connections(upstream, data)
    old_key, before = (data / KEY_FILE).read_bytes(), tokens(data)
    assert opened(data, old_key) == KEYS and before["keyless"] is None

    result = rotate(data)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Re-sealed 2 secrets under a new key, kept in {data / KEY_FILE}.")
    new_key = (data / KEY_FILE).read_bytes()
    assert len(new_key) == 32 and new_key != old_key
    assert stat.S_IMODE((data / KEY_FILE).stat().st_mode) == 0o600
    assert [path.name for path in data.glob(KEY_FILE + "*")] == [KEY_FILE], "a temporary or pending key file was left"
    after = tokens(data)
    assert opened(data, new_key) == KEYS and after["keyless"] is None
    with pytest.raises(SecretError):
        SecretBox(old_key).decrypt(after["lab"])
    # The old tokens are gone from the files on disk, not only from the rows.
    stored = database_bytes(data)
    assert not any(before[name].encode() in stored for name in KEYS)
    assert check_lab(data, upstream) == f"Bearer {KEYS['lab']}"


def test_the_keys_of_drop_in_modules_are_resealed_too(upstream, tmp_path):
    data = tmp_path / "data"
    stored_connections(upstream, data)
    old_key = (data / KEY_FILE).read_bytes()
    with closing(sqlite3.connect(data / "webui.sqlite3")) as db, db:
        db.execute(
            "INSERT INTO module_keys (name, api_key, updated_at) VALUES ('needs_key', ?, 0)",
            (SecretBox(old_key).encrypt("module-rotate-canary"),),
        )

    result = rotate(data)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Re-sealed 3 secrets under a new key")
    with closing(sqlite3.connect(data / "webui.sqlite3")) as db:
        token = db.execute("SELECT api_key FROM module_keys WHERE name = 'needs_key'").fetchone()[0]
    assert SecretBox((data / KEY_FILE).read_bytes()).decrypt(token) == "module-rotate-canary"
    assert b"module-rotate-canary" not in database_bytes(data)


def test_rotating_to_a_key_from_the_environment_and_the_start_with_either_key(upstream, tmp_path):
    data = tmp_path / "data"
    stored_connections(upstream, data, WEBUI_SECRET_KEY=OLD_SETTING)
    result = rotate(data, "--new-key-env", "NEW_WEBUI_KEY", WEBUI_SECRET_KEY=OLD_SETTING, NEW_WEBUI_KEY=NEW_SETTING)
    assert result.returncode == 0, result.stderr
    assert "Re-sealed 2 secrets under the key in NEW_WEBUI_KEY." in result.stdout
    assert "WEBUI_SECRET_KEY" in result.stdout
    assert NEW_SETTING not in result.stdout + result.stderr
    assert opened(data, derive_key(NEW_SETTING)) == KEYS
    assert not (data / KEY_FILE).exists(), "a key from the setting needs no file"
    with pytest.raises(ConfigError, match="cannot be read with this server's secret key"):
        create_app(settings(data, WEBUI_SECRET_KEY=OLD_SETTING))
    assert check_lab(data, upstream, WEBUI_SECRET_KEY=NEW_SETTING) == f"Bearer {KEYS['lab']}"


def test_from_the_setting_into_a_new_key_file(upstream, tmp_path):
    data = tmp_path / "data"
    stored_connections(upstream, data, WEBUI_SECRET_KEY=OLD_SETTING)
    result = rotate(data, WEBUI_SECRET_KEY=OLD_SETTING)
    assert result.returncode == 0, result.stderr
    assert "Remove WEBUI_SECRET_KEY" in result.stdout
    assert opened(data, (data / KEY_FILE).read_bytes()) == KEYS
    assert check_lab(data, upstream) == f"Bearer {KEYS['lab']}"


def unchanged(data, before):
    """Whether the data folder's key file and stored tokens are as `before` was taken, with no key file left beside."""
    return (
        (data / KEY_FILE).read_bytes() == before["key"]
        and tokens(data) == before["tokens"]
        and [path.name for path in data.glob(KEY_FILE + "*")] == [KEY_FILE]
    )


def snapshot(data):
    """The key file and the tokens, to compare with later."""
    return {"key": (data / KEY_FILE).read_bytes(), "tokens": tokens(data)}


@pytest.mark.parametrize(
    "lang, words",
    [("C", "cannot be read with this server's secret key"), ("ru_RU.UTF-8", "нельзя прочитать секретным ключом этого сервера")],
)
def test_a_damaged_token_is_refused_and_nothing_changes(upstream, tmp_path, lang, words):
    data = tmp_path / "data"
    stored_connections(upstream, data)
    with closing(sqlite3.connect(data / "webui.sqlite3")) as db, db:
        db.execute("UPDATE connections SET api_key = ? WHERE name = 'lab2'", (flip(tokens(data)["lab2"], 20),))
    before = snapshot(data)
    result = rotate(data, lang=lang)
    assert result.returncode == 1 and words in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert unchanged(data, before)


def test_a_token_that_only_the_rotation_finds_damaged_is_refused_and_nothing_changes(upstream, tmp_path):
    data = tmp_path / "data"
    stored_connections(upstream, data)
    app = create_app(settings(data))
    # Damaged after the start, whose check would refuse it: the rotation's own check must find it, after the first row.
    with closing(sqlite3.connect(data / "webui.sqlite3")) as db, db:
        db.execute("UPDATE connections SET api_key = ? WHERE name = 'lab2'", (flip(tokens(data)["lab2"], 20),))
    before = snapshot(data)
    with app.app_context():
        with pytest.raises(Exception, match="connections.api_key, row 2, cannot be opened") as refused:
            reseal(get_box(), bytes(32), str(data / KEY_FILE) + ".new")
    assert refused.value.code == "unreadable_secret"
    assert unchanged(data, before)


def test_a_new_key_file_that_cannot_be_written_changes_nothing(upstream, tmp_path):
    data = tmp_path / "data"
    stored_connections(upstream, data)
    before = snapshot(data)
    # Something in the way of the new key file: it cannot be written, so the transaction must not commit.
    (data / (KEY_FILE + ".new")).mkdir()
    result = rotate(data)
    assert result.returncode == 1 and "The new key file could not be written" in result.stderr, result.stderr
    (data / (KEY_FILE + ".new")).rmdir()
    assert unchanged(data, before)


def test_a_database_another_program_keeps_locked_changes_nothing(upstream, tmp_path):
    data = tmp_path / "data"
    stored_connections(upstream, data)
    before = snapshot(data)
    with closing(sqlite3.connect(data / "webui.sqlite3", isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        result = rotate(data, WEBUI_DATABASE_TIMEOUT="1")
        holder.execute("ROLLBACK")
    assert result.returncode == 1 and "busy" in result.stderr and "Nothing was changed." in result.stderr, result.stderr
    assert unchanged(data, before)


def test_a_running_server_is_stopped_first(upstream, tmp_path):
    data = tmp_path / "data"
    stored_connections(upstream, data)
    before = snapshot(data)
    environment = clean_env(WEBUI_DATA_DIR=str(data), WEBUI_PING_INTERVAL="0", WEBUI_TITLES="0")
    server = ServerProcess([sys.executable, "-m", "webui", "--port", "0"], env=environment)
    try:
        result = rotate(data)
    finally:
        server.stop()
    assert result.returncode == 1 and "A server is running on this data folder" in result.stderr, result.stderr
    assert unchanged(data, before)
    assert rotate(data).returncode == 0, "once it has stopped, the key can be rotated"


@pytest.mark.parametrize(
    "value, lang, words",
    [
        ("", "C", "must hold at least 16 characters of random text. Nothing was changed."),
        ("short", "ru_RU.UTF-8", "должна содержать не меньше 16 случайных символов. Ничего не изменено."),
        (OLD_SETTING, "C", "holds the key in use now"),
    ],
)
def test_a_new_key_that_is_missing_short_or_the_same_is_refused(upstream, tmp_path, value, lang, words):
    data = tmp_path / "data"
    stored_connections(upstream, data, WEBUI_SECRET_KEY=OLD_SETTING)
    before = tokens(data)
    result = rotate(data, "--new-key-env", "NEW_WEBUI_KEY", lang=lang, WEBUI_SECRET_KEY=OLD_SETTING, NEW_WEBUI_KEY=value)
    assert result.returncode == 1 and words in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert tokens(data) == before and not (data / KEY_FILE).exists()
