"""The `webui secret rotate` command: every stored secret re-sealed under a new key, all in one transaction or none."""
import os
from contextlib import contextmanager
from pathlib import Path

import click
from Crypto.Random import get_random_bytes
from flask_babel import gettext as _
from flask_babel import ngettext

from .. import secrets
from ..errors import UserError
from ..serving.lock import LOCK_FILE, alone
from ..storage import get_db, sealed
from ..storage.database import transaction
from .terminal import build_app, terminal


@click.group()
def secret():
    """Rotate the key that seals the secrets the server stores (WEBUI_SECRET_KEY or secret.key)."""


def refusal(message):
    """A refusal of the command, which has changed nothing."""
    return click.ClickException(" ".join([message, _("Nothing was changed.")]))


@contextmanager
def no_server(data_dir):
    """Hold the data folder's serving lock alone for the block; refused while a server runs on the folder, as it keeps
    the old key in memory and would seal the keys it is given with it."""
    with open(Path(data_dir) / LOCK_FILE, "a") as lock:
        if not alone(lock):
            raise refusal(_("A server is running on this data folder: stop it first, then rotate the key."))
        yield


def key_from(variable, config):
    """The new key from the environment variable `variable`, checked as WEBUI_SECRET_KEY is."""
    value = os.environ.get(variable, "")
    if len(value) < secrets.MIN_SECRET_LENGTH:
        raise refusal(
            _(
                "The environment variable %(name)s must hold at least %(n)d characters of random text.",
                name=variable,
                n=secrets.MIN_SECRET_LENGTH,
            )
        )
    key = secrets.derive_key(value)
    if key == secrets.app_key(config):
        raise refusal(_("%(name)s holds the key in use now: give a new one.", name=variable))
    return key


def reseal(old, key, pending):
    """Re-seal every stored secret from the box `old` under `key` in one transaction; how many there were. Each token is
    opened before anything is written; a new key file (`pending`, when the key goes into one) is written in full before
    the commit and removed if the transaction fails, so the key that opens the stored tokens is always on disk."""
    db = get_db()
    written = False
    try:
        with transaction(db):
            # SQLite: the pages that held the old tokens are overwritten, not merely freed (the WAL is emptied after the
            # commit). Set on the transaction's own connection: a Database takes one from the pool per call.
            if db.sqlite:
                db.execute("PRAGMA secure_delete = ON")
            found = sealed.opened(db, old)
            if pending:
                secrets.write_key_file(pending, key)
                written = True
            sealed.seal(db, found, secrets.SecretBox(key))
    except BaseException:
        if written:
            os.unlink(pending)
        raise
    if db.sqlite:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return len(found)


def put_in_place(pending, path):
    """Make the new key file the data folder's key file, once the tokens are sealed with its key."""
    try:
        os.replace(pending, path)
    except OSError as e:
        message = _(
            "The secrets are sealed under the new key in %(pending)s, but it could not replace %(path)s (%(error)s): "
            "rename it to %(path)s before the server starts.",
            pending=pending,
            path=path,
            error=e.strerror or e,
        )
        raise click.ClickException(message) from None
    secrets.sync_folder(os.path.dirname(path))


@secret.command("rotate")
@click.option(
    "--new-key-env",
    "variable",
    metavar="VAR",
    help="Take the new key from this environment variable (then set WEBUI_SECRET_KEY to it); without it a new random "
    "key is written to secret.key in the data folder.",
)
@click.pass_obj
def rotate(overrides, variable):
    """Re-seal every stored secret (connections' keys) from the key in use under a new one, all or none. Stop the
    server first."""
    app = build_app(overrides)
    config = app.config
    path = secrets.key_path(config["WEBUI_DATA_DIR"])
    with terminal(app), no_server(config["WEBUI_DATA_DIR"]):
        key = key_from(variable, config) if variable else get_random_bytes(secrets.KEY_SIZE)
        pending = None if variable else f"{path}.new"
        try:
            count = reseal(secrets.get_box(), key, pending)
        except UserError as e:
            raise refusal(e.message) from None
        except OSError as e:
            raise refusal(_("The new key file could not be written: %(error)s.", error=e.strerror or e)) from None
        if variable:
            done = ngettext(
                "Re-sealed %(count)d secret under the key in %(name)s.",
                "Re-sealed %(count)d secrets under the key in %(name)s.",
                count,
                count=count,
                name=variable,
            )
            click.echo(done)
            click.echo(_("Start the server with WEBUI_SECRET_KEY set to that value: the old key opens none of them now."))
            return
        put_in_place(pending, path)
        done = ngettext(
            "Re-sealed %(count)d secret under a new key, kept in %(path)s.",
            "Re-sealed %(count)d secrets under a new key, kept in %(path)s.",
            count,
            count=count,
            path=path,
        )
        click.echo(done)
        if config.get("WEBUI_SECRET_KEY"):
            click.echo(_("Remove WEBUI_SECRET_KEY from the server's settings: it must now read the key from that file."))
