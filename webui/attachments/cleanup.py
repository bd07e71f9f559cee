"""Removing what attachments leave behind: the files no row names any more, uploads never sent, writes cut short."""
import logging
import threading
import time

from flask import current_app

from ..cooperative import in_native_thread
from ..storage import get_db
from ..storage.database import StorageError, transaction
from . import files, records

log = logging.getLogger(__name__)

# How often a serving process sweeps, and how old a file must be before a sweep may take it for a stray: older than
# any upload that has written its file and not yet its row.
SWEEP_SECONDS = 3600
STRAY_SECONDS = 3600


def remove_files(root, names, leftovers=()):
    """Delete these files (by digest) and these paths; one that cannot be is logged, and a later sweep finds it."""
    for path in [files.path_of(root, name) for name in names] + list(leftovers):
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            log.warning("could not delete the attachment file %s: %s", path, error)


def collect(db):
    """Delete the files of deleted attachments that no row names any more: in a write transaction, so no upload can
    add a row naming one meanwhile (an upload makes sure of its files inside its own). Called after the deletion has
    been committed, it never fails the request: files it cannot take now wait for the next sweep."""
    try:
        with transaction(db):
            unused = records.garbage(db)
            in_native_thread(remove_files, files.folder(), unused)
            records.forget_garbage(db)
    except StorageError as error:
        log.warning("the files of deleted attachments wait for the next sweep: %s", error.cause)


def sweep(db, now=None):
    """Delete the uploads older than WEBUI_UNSENT_ATTACHMENT_SECONDS that no message carries, then their files, and
    any file that no row names (left by a crash between a file's write and its row's): how many uploads went."""
    now = time.time() if now is None else now
    root = files.folder()
    with transaction(db):
        removed = records.remove_unsent(db, now - current_app.config["WEBUI_UNSENT_ATTACHMENT_SECONDS"])
    collect(db)
    names, leftovers = in_native_thread(files.stored_names, root, now - STRAY_SECONDS)
    with transaction(db):
        strays = records.unnamed(db, names) if names else []
        in_native_thread(remove_files, root, strays, leftovers)
    return removed


def start(app):
    """Sweep now and every SWEEP_SECONDS for the rest of the process (called by the process that serves)."""

    def sweeps():
        """Sweep after sweep; one that fails is logged, and the next comes all the same."""
        while True:
            with app.app_context():
                try:
                    sweep(get_db())
                except Exception:
                    log.exception("sweeping the attachments failed")
            time.sleep(SWEEP_SECONDS)

    threading.Thread(target=sweeps, name="webui-attachments-sweep", daemon=True).start()
