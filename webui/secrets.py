"""Secrets at rest: AES-GCM under a key derived from WEBUI_SECRET_KEY, or kept in <data dir>/secret.key."""
import base64
import binascii
import logging
import os
import threading

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from Crypto.Random import get_random_bytes
from flask import current_app

from .config import ConfigError

log = logging.getLogger(__name__)

# A token is urlsafe base64 of version (1 byte) | nonce (12) | tag (16) | ciphertext.
VERSION = 1
NONCE_SIZE = 12
TAG_SIZE = 16
KEY_SIZE = 32
KEY_FILE = "secret.key"
# HKDF spreads a secret's entropy into a key; it cannot add any, so the setting must be long and random.
MIN_SECRET_LENGTH = 16
HKDF_SALT = b"webui secret store"
HKDF_CONTEXT = b"webui/secrets/v1"

_lock = threading.Lock()


class SecretError(ValueError):
    """A token that is malformed, was changed, or was sealed under another key."""


class SecretBox:
    """Encrypts short texts (keys) into versioned tokens and back, detecting any change."""

    def __init__(self, key):
        """Use a 32-byte key."""
        if len(key) != KEY_SIZE:
            raise ValueError(f"the key must be {KEY_SIZE} bytes")
        self._key = key

    def encrypt(self, text):
        """Seal `text` under a fresh random nonce."""
        header = bytes([VERSION])
        nonce = get_random_bytes(NONCE_SIZE)
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_SIZE)
        # The version is authenticated too, so a token cannot be passed off as another format.
        cipher.update(header)
        ciphertext, tag = cipher.encrypt_and_digest(text.encode("utf-8"))
        return base64.urlsafe_b64encode(header + nonce + tag + ciphertext).decode("ascii")

    def decrypt(self, token):
        """Open a token; SecretError if it is not one of ours or was tampered with."""
        try:
            raw = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise SecretError("not a secret token") from None
        nonce_end = 1 + NONCE_SIZE
        tag_end = nonce_end + TAG_SIZE
        header, nonce, tag, ciphertext = raw[:1], raw[1:nonce_end], raw[nonce_end:tag_end], raw[tag_end:]
        if header != bytes([VERSION]) or len(tag) != TAG_SIZE:
            raise SecretError("not a secret token of a known version")
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_SIZE)
        cipher.update(header)
        try:
            return cipher.decrypt_and_verify(ciphertext, tag).decode("utf-8")
        except ValueError:
            raise SecretError("the token was changed or sealed under another key") from None


def derive_key(secret):
    """The 32-byte key for a WEBUI_SECRET_KEY value (HKDF-SHA256)."""
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(f"WEBUI_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters of random text")
    return HKDF(secret.encode("utf-8"), KEY_SIZE, HKDF_SALT, SHA256, context=HKDF_CONTEXT)


def read_key_file(path):
    """Read a key file, refusing one of the wrong size."""
    with open(path, "rb") as f:
        key = f.read(KEY_SIZE + 1)
    if len(key) != KEY_SIZE:
        raise ConfigError(f"{path} is not a key file: it must hold exactly {KEY_SIZE} bytes")
    if os.stat(path).st_mode & 0o077:
        log.warning("%s can be read by other users: chmod 600 it", path)
    return key


def key_path(data_dir):
    """Where the data folder's key file is."""
    return os.path.join(data_dir, KEY_FILE)


def private_copy(path, key):
    """A new file beside `path` holding `key`, mode 0600, written in full and synced: its name."""
    temporary = f"{path}.{get_random_bytes(8).hex()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary


def write_key_file(path, key):
    """Put a key file holding `key` at `path` in place of any there: a reader sees the old file or the new one whole."""
    temporary = private_copy(path, key)
    try:
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    sync_folder(os.path.dirname(path))


def sync_folder(folder):
    """Make a rename in `folder` survive a power cut, where the system lets a folder be opened (not Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_key(data_dir):
    """The key in <data_dir>/secret.key, created on first use with mode 0600."""
    path = key_path(data_dir)
    try:
        return read_key_file(path)
    except FileNotFoundError:
        pass
    # Written in full to a private temporary file, then linked into place: link() never replaces a
    # file, so a reader sees no key or a whole key, and of two processes racing, the first one wins.
    temporary = private_copy(path, get_random_bytes(KEY_SIZE))
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)
    return read_key_file(path)


def app_key(config):
    """The app's key: derived from WEBUI_SECRET_KEY when set, else the data folder's key file."""
    secret = config.get("WEBUI_SECRET_KEY")
    return derive_key(secret) if secret else file_key(config["WEBUI_DATA_DIR"])


def get_box():
    """The current app's SecretBox, made on first use."""
    app = current_app._get_current_object()
    with _lock:
        if "webui.secrets" not in app.extensions:
            app.extensions["webui.secrets"] = SecretBox(app_key(app.config))
        return app.extensions["webui.secrets"]
