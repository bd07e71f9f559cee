"""The secret store: AES-GCM tokens, tampering detected, the key from the setting or a 0600 file made once."""
import base64
import os
import stat
import threading

import pytest

from webui import create_app
from webui.config import ConfigError
from webui.secrets import KEY_FILE, SecretBox, SecretError, derive_key, file_key, get_box

KEY = bytes(range(32))


def flip(token, index):
    """The token with one bit of its raw byte `index` flipped."""
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode()


def box_of(app):
    """The app's SecretBox."""
    with app.app_context():
        return get_box()


def test_round_trip():
    box = SecretBox(KEY)
    for text in ["sk-live-0123456789abcdef", "", "ключ с пробелами 🔑"]:
        assert box.decrypt(box.encrypt(text)) == text


def test_the_token_is_versioned_and_hides_the_text():
    token = SecretBox(KEY).encrypt("sk-live-0123456789abcdef")
    raw = base64.urlsafe_b64decode(token)
    assert raw[0] == 1 and len(raw) == 1 + 12 + 16 + len("sk-live-0123456789abcdef")
    assert b"sk-live" not in raw


def test_every_encryption_uses_a_fresh_nonce():
    box = SecretBox(KEY)
    tokens = [box.encrypt("same text") for _ in range(20)]
    nonces = {base64.urlsafe_b64decode(t)[1:13] for t in tokens}
    assert len(set(tokens)) == len(nonces) == 20


@pytest.mark.parametrize("index, part", [(0, "version"), (1, "nonce"), (13, "tag"), (29, "ciphertext"), (-1, "last byte")])
def test_any_change_is_detected(index, part):
    box = SecretBox(KEY)
    token = box.encrypt("a key worth keeping")
    with pytest.raises(SecretError):
        box.decrypt(flip(token, index))


@pytest.mark.parametrize("token", ["", "not base64 at all!", "AQ==", base64.urlsafe_b64encode(b"\x01" + b"\x00" * 20).decode(), "ключ"])
def test_garbage_is_refused(token):
    with pytest.raises(SecretError):
        SecretBox(KEY).decrypt(token)


def test_another_key_cannot_open_a_token():
    token = SecretBox(KEY).encrypt("secret")
    with pytest.raises(SecretError):
        SecretBox(bytes(32)).decrypt(token)


def test_the_key_file_is_made_once_with_mode_0600_and_shared_by_two_apps(tmp_path):
    data = tmp_path / "data"
    first = create_app({"TESTING": True, "WEBUI_DATA_DIR": str(data)})
    assert not (data / KEY_FILE).exists(), "the key file is made on first use, not at startup"
    token = box_of(first).encrypt("sk-kept-across-restarts")
    path = data / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_bytes()
    second = create_app({"TESTING": True, "WEBUI_DATA_DIR": str(data)})
    assert box_of(second).decrypt(token) == "sk-kept-across-restarts"
    assert path.read_bytes() == key and len(key) == 32
    assert not list(data.glob(KEY_FILE + ".*")), "a temporary file was left behind"


def test_racing_first_uses_agree_on_one_key(tmp_path):
    keys = []
    barrier = threading.Barrier(8)

    def first_use():
        """Wait for the others, then ask for the key."""
        barrier.wait(5)
        keys.append(file_key(str(tmp_path)))

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(keys) == 8 and len(set(keys)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE], "a temporary file was left behind"


def test_a_setting_gives_the_key_and_no_file_is_made(tmp_path):
    settings = {"TESTING": True, "WEBUI_SECRET_KEY": "a long random value from a password manager"}
    first = create_app({**settings, "WEBUI_DATA_DIR": str(tmp_path / "one")})
    second = create_app({**settings, "WEBUI_DATA_DIR": str(tmp_path / "two")})
    token = box_of(first).encrypt("sk-abc")
    assert box_of(second).decrypt(token) == "sk-abc"
    other = create_app({**settings, "WEBUI_SECRET_KEY": "a different long random value", "WEBUI_DATA_DIR": str(tmp_path / "three")})
    with pytest.raises(SecretError):
        box_of(other).decrypt(token)
    assert not list(tmp_path.glob("*/" + KEY_FILE))


def test_the_setting_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBUI_SECRET_KEY", "a long random value from the environment")
    app = create_app({"TESTING": True, "WEBUI_DATA_DIR": str(tmp_path)})
    token = box_of(app).encrypt("x")
    assert SecretBox(derive_key("a long random value from the environment")).decrypt(token) == "x"
    assert not (tmp_path / KEY_FILE).exists()


def test_a_short_setting_is_refused(tmp_path):
    app = create_app({"TESTING": True, "WEBUI_DATA_DIR": str(tmp_path), "WEBUI_SECRET_KEY": "hunter2"})
    with pytest.raises(ConfigError, match="WEBUI_SECRET_KEY"):
        box_of(app)


def test_a_damaged_key_file_is_refused(tmp_path):
    (tmp_path / KEY_FILE).write_bytes(b"too short")
    os.chmod(tmp_path / KEY_FILE, 0o600)
    with pytest.raises(ConfigError, match="32 bytes"):
        file_key(str(tmp_path))
