"""The `webui token` commands: add, list and revoke a user's personal API tokens."""
from contextlib import contextmanager

import click
from flask_babel import gettext as _

from ..access.auth import get_access
from ..access.identity import user_owner
from ..commands.terminal import build_app, terminal
from ..errors import UserError
from ..storage import api_tokens, get_db
from . import tokens


@click.group()
def token():
    """Manage the personal API tokens that programs use to call /v1 (docs/api.md)."""


@contextmanager
def owner_of(overrides, name):
    """The owner of the account `name`, in the configured data folder; its errors become messages in the terminal's
    language."""
    app = build_app(overrides)
    with terminal(app):
        users = get_access().users
        if not users.has_any():
            raise click.ClickException(
                _(
                    "There are no accounts. Without them, a token belongs to the browser that makes it: make one on the "
                    "page (API tokens)."
                )
            )
        if users.role(name) is None:
            raise click.ClickException(_("There is no user called “%(name)s”.", name=name))
        try:
            yield user_owner(name)
        except UserError as e:
            raise click.ClickException(e.message) from None


@token.command("add")
@click.argument("name")
@click.option("--name", "token_name", default="webui token add", help="What the token is for, as its list shows it.")
@click.pass_obj
def token_add(overrides, name, token_name):
    """Make a token for a user and print it: it is shown this once, and only its hash is kept."""
    with owner_of(overrides, name) as owner:
        listed, made = tokens.create(owner, token_name)
        click.echo(made)
        click.echo(_("Made the token %(prefix)s… for %(name)s; it is not shown again.", prefix=listed["prefix"], name=name), err=True)


@token.command("list")
@click.argument("name")
@click.pass_obj
def token_list(overrides, name):
    """List a user's tokens: each one's id, name, when it was made and when it was last used."""
    with owner_of(overrides, name) as owner:
        rows = [api_tokens.token_json(row) for row in api_tokens.owned(get_db(), owner)]
        for row in rows:
            click.echo("\t".join([row["id"], row["name"], row["created_at"], row["last_used_at"] or _("never used")]))
        if not rows:
            click.echo(_("%(name)s has no API tokens.", name=name), err=True)


@token.command("revoke")
@click.argument("name")
@click.argument("token_id")
@click.pass_obj
def token_revoke(overrides, name, token_id):
    """Revoke one of a user's tokens (its id, as the list shows it, or the token): it is refused at once, and a running
    server stops its answers within two seconds."""
    with owner_of(overrides, name) as owner:
        found = tokens.token_id_of(token_id)
        if found is None or not tokens.revoke(owner, found):
            raise click.ClickException(_("%(name)s has no such token: “webui token list %(name)s” shows their tokens.", name=name))
        click.echo(_("Revoked the token %(token)s of %(name)s.", token=found, name=name))
