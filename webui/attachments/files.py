"""The attachments' bytes: files in WEBUI_DATA_DIR/attachments named by their SHA-256, written whole or not at all.

Nothing here decides whether a file may go: cleanup.py removes a file only inside a write transaction that sees no
row naming it, and an upload makes sure its file is there inside the transaction that adds its row, so the two never
cross. A name is always a hash this server computed, never anything a client sent.
"""
import errno
import hashlib
import os
import re
import tempfile
from pathlib import Path

from flask import current_app

from ..storage.database import StorageError

FOLDER = "attachments"
INCOMING = ".incoming-"
DIGEST = re.compile(r"[0-9a-f]{64}")


def folder():
    """The attachments' folder of the current app."""
    return Path(current_app.config["WEBUI_DATA_DIR"]) / FOLDER


def digest(data):
    """The SHA-256 of `data` in hex: a file's name (hashlib lets other threads run while it computes)."""
    return hashlib.sha256(data).hexdigest()


def path_of(root, name):
    """Where the file with this digest lives: two levels, so no one folder holds every file."""
    if not DIGEST.fullmatch(name):
        raise ValueError(f"not a digest: {name!r}")
    return root / name[:2] / name


def put(root, name, data):
    """Store `data` as the file `name` unless it is there already: written to a temporary file beside it, flushed to
    the disk, then renamed over it, so a reader never sees part of a file."""
    path = path_of(root, name)
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=root, prefix=INCOMING)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def put_all(root, files):
    """put() each (name, data) of `files`; a disk that cannot take them is a StorageError the person can read."""
    try:
        for name, data in files:
            put(root, name, data)
    except OSError as error:
        code = "storage_full" if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else "storage_failed"
        raise StorageError(code, str(error)) from error


def read(root, name):
    """The file's bytes, or None when it is missing."""
    try:
        return path_of(root, name).read_bytes()
    except FileNotFoundError:
        return None


def stored_names(root, before):
    """The digests of the files last changed before `before` (a time.time()), and the temporary files of writes that
    never finished (a crash): the candidates a sweep checks."""
    names, leftovers = [], []
    if not root.is_dir():
        return names, leftovers
    for entry in root.iterdir():
        if entry.name.startswith(INCOMING):
            if entry.stat().st_mtime < before:
                leftovers.append(entry)
        elif entry.is_dir():
            names += [p.name for p in entry.iterdir() if DIGEST.fullmatch(p.name) and p.stat().st_mtime < before]
    return names, leftovers
