"""The `webui db` commands: copy the current database into an empty PostgreSQL one."""
import click
from flask_babel import gettext as _
from sqlalchemy.engine import make_url

from ..errors import UserError
from ..storage.copy import copy_database
from ..storage.database import StorageError, storage_error
from ..storage.engine import driver_errors
from .terminal import build_app, terminal


@click.group()
def db():
    """Move the conversations and accounts to another database."""


@db.command("copy")
@click.option("--to", "url", required=True, metavar="URL", help="The empty PostgreSQL database: postgresql://user:password@host/db.")
@click.pass_obj
def copy(overrides, url):
    """Copy every account, conversation, message, preset, connection, module key, API token and attachment row from
    the current database (WEBUI_DATABASE_URL, else the SQLite files in the data folder) into an empty PostgreSQL one,
    in one transaction, then check the rows of each table. Attachment files are not copied: they stay in
    WEBUI_DATA_DIR/attachments, which every server using the new database must share. Stop the server first."""
    app = build_app(overrides)
    with terminal(app):
        try:
            copied = copy_database(app.extensions["webui.store"], url, app.config["WEBUI_DATABASE_TIMEOUT"])
        except UserError as e:
            raise click.ClickException(e.message) from None
        except driver_errors() as e:
            failure = storage_error(e) or StorageError("storage_failed", str(e))
            raise click.ClickException(_("The copy failed and the target was left empty: %(error)s", error=failure.cause)) from None
        for table, source, target in copied:
            click.echo(_("%(table)s: %(source)d rows, %(target)d copied", table=table, source=source, target=target))
        wrong = [table for table, source, target in copied if source != target]
        if wrong:
            raise click.ClickException(_("The counts differ in: %(tables)s.", tables=", ".join(wrong)))
        shown = make_url(url).render_as_string(hide_password=True)
        click.echo(_("Copied into %(url)s. Set WEBUI_DATABASE_URL to it to use it.", url=shown))
