"""The data folder's serving lock: which processes serve the folder, and whether a server that starts is alone.

Each serving process holds a shared lock on a file in the folder for as long as it lives, so a server that starts and
finds no other knows that the answers left `streaming` have no writer any more, and marks them interrupted. Commands
(`webui user …`, `webui check`), tests' apps and a start that fails before it serves never do. With WEBUI_REDIS_URL
the lock cannot tell (other hosts serve the same database): leases in Redis decide instead (shared/workers.py).
"""
import logging
from pathlib import Path

from .. import attachments
from ..shared import get_redis
from ..storage import get_db
from ..storage.answer_parts import recover
from ..storage.database import StorageError

log = logging.getLogger(__name__)

LOCK_FILE = "serving.lock"


def alone(lock):
    """Take `lock` exclusively if no other process holds it; whether that worked. Without flock (Windows) a process
    cannot tell, and counts as alone: each start marks the answers left streaming interrupted."""
    try:
        import fcntl
    except ImportError:
        return True
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def share(lock):
    """Hold `lock` shared, as every serving process does (waiting while another one that starts recovers)."""
    try:
        import fcntl
    except ImportError:
        return
    # Not atomic after an exclusive hold: another server starting right then may take it and recover, which costs this
    # one nothing, since it has no answer yet.
    fcntl.flock(lock, fcntl.LOCK_SH)


def start_serving(app):
    """Called by the process that serves `app`, once, before it serves: hold the data folder's serving lock for the
    rest of the process and, if no other process serves the folder, mark the answers left streaming interrupted; with
    Redis, take a lease and listen for sign-outs instead."""
    lock = open(Path(app.config["WEBUI_DATA_DIR"]) / LOCK_FILE, "a")
    # Kept open with the app; the process's end lets the lock go, however it ends.
    app.extensions["webui.serving_lock"] = lock
    if get_redis(app) is not None:
        # Only a server that shares loads shared/'s modules and redis-py (megabytes a process): see shared/__init__.
        from ..shared import signouts, workers

        workers.start(app)
        signouts.start(app)
    elif alone(lock):
        with app.app_context():
            try:
                recover(get_db())
            except StorageError as e:
                # Serving matters more: the answers are marked at the next start that can write.
                log.warning("could not mark the answers of stopped servers interrupted: %s", e.cause)
    share(lock)
    # Every serving process sweeps; a sweep is a few transactions, harmless when another process sweeps too.
    attachments.cleanup.start(app)
