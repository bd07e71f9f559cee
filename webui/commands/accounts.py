"""The `webui user` commands: add, list, promote, demote and delete accounts, and change their passwords."""
import sys
from contextlib import contextmanager

import click
from flask_babel import gettext as _

from .. import attachments
from ..access import auth
from ..access.identity import user_owner
from ..errors import UserError
from ..storage import api_tokens, conversations, get_db, presets
from ..storage.database import transaction
from ..storage.engine import driver_errors
from .terminal import build_app, terminal


@click.group()
def user():
    """Manage the accounts; once one exists, everyone must sign in. The first account is an administrator."""


def unknown_user(name):
    """The error for a name with no account."""
    return click.ClickException(_("There is no user called “%(name)s”.", name=name))


@contextmanager
def accounts(overrides):
    """The accounts in the configured data folder; their errors become messages in the terminal's language."""
    app = build_app(overrides)
    with terminal(app):
        try:
            yield auth.get_access().users
        except UserError as e:
            raise click.ClickException(e.message) from None
        except driver_errors() as e:
            raise click.ClickException(_("The data folder could not be changed: %(error)s", error=e)) from None


def read_password(from_stdin):
    """The new password: one line of standard input, or typed twice at a prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt(_("Password"), hide_input=True, confirmation_prompt=_("Repeat the password"))


stdin_option = click.option("--password-stdin", is_flag=True, help="Read the password from standard input, not a prompt.")


def delete_conversations(name):
    """Delete the conversations, attachments, presets and API tokens of the account `name`: they must never pass to a
    later account of the same name."""
    db = get_db()
    with transaction(db):
        presets.delete_owned(db, user_owner(name))
        api_tokens.delete_owned(db, user_owner(name))
        attachments.delete_owned(db, user_owner(name))
        deleted = conversations.delete_owned(db, user_owner(name))
    attachments.collect(db)
    return deleted


def role_name(role):
    """How `webui user list` names a role."""
    return _("administrator") if role == "admin" else _("user")


@user.command("add")
@click.argument("name")
@stdin_option
@click.option("--admin", is_flag=True, help="Make the account an administrator (the first account always is one).")
@click.pass_obj
def user_add(overrides, name, password_stdin, admin):
    """Create an account; it starts with no conversations, whatever an earlier account of that name left."""
    with accounts(overrides) as users:
        password = read_password(password_stdin)
        if name in users.names():
            raise click.ClickException(_("There is already a user called “%(name)s”.", name=name))
        # Before the account exists, so that nobody can have signed in to it and written anything yet.
        left = delete_conversations(name)
        users.add(name, password, admin)
        click.echo(_("Added %(name)s.", name=name))
        if left:
            click.echo(_("Deleted the conversations an earlier account called %(name)s had left: %(count)d.", name=name, count=left))
        if users.role(name) == "admin":
            click.echo(_("%(name)s is an administrator: they can change what the whole server uses.", name=name))


@user.command("passwd")
@click.argument("name")
@stdin_option
@click.pass_obj
def user_passwd(overrides, name, password_stdin):
    """Change a password; the user's sessions end and their open pages must sign in again."""
    with accounts(overrides) as users:
        if name not in users.names() or not users.set_password(name, read_password(password_stdin)):
            raise unknown_user(name)
        click.echo(_("Changed the password of %(name)s; their sessions have ended.", name=name))


def change_role(overrides, name, role):
    """Give an account `role`, saying what changed, or that nothing needed to."""
    admin = role == "admin"
    with accounts(overrides) as users:
        if users.role(name) == role:
            done = _("%(name)s is already an administrator.") if admin else _("%(name)s is not an administrator.")
        elif not users.set_role(name, role):
            raise unknown_user(name)
        else:
            done = _("%(name)s is now an administrator.") if admin else _("%(name)s is no longer an administrator.")
        click.echo(done % {"name": name})


@user.command("promote")
@click.argument("name")
@click.pass_obj
def user_promote(overrides, name):
    """Make an account an administrator: it may change what the whole server uses."""
    change_role(overrides, name, "admin")


@user.command("demote")
@click.argument("name")
@click.pass_obj
def user_demote(overrides, name):
    """Make an administrator a plain user, at once on their open pages; the last administrator cannot be."""
    change_role(overrides, name, "user")


@user.command("delete")
@click.argument("name")
@click.pass_obj
def user_delete(overrides, name):
    """Delete an account with its conversations; its sessions end and its running answers stop."""
    with accounts(overrides) as users:
        # The account first, ending its sessions. What a socket of it writes before the server closes it (within two
        # seconds) is deleted when the name is next added.
        deleted, heir = users.delete(name)
        if not deleted:
            raise unknown_user(name)
        count = delete_conversations(name)
        click.echo(_("Deleted %(name)s and their conversations: %(count)d.", name=name, count=count))
        if heir:
            click.echo(_("%(name)s was the last administrator, so %(heir)s, the oldest account left, is one now.", name=name, heir=heir))
        if not users.has_any():
            message = _(
                "No accounts are left: on 127.0.0.1 the server no longer asks anyone to sign in, "
                "and on a network address it lets nobody in."
            )
            click.echo(message, err=True)


@user.command("list")
@click.pass_obj
def user_list(overrides):
    """List the accounts, each with its role."""
    with accounts(overrides) as users:
        roles = users.roles()
        for name, role in roles:
            click.echo(f"{name}\t{role_name(role)}")
        if not roles:
            click.echo(_("No accounts: anyone who can reach the server may use it."), err=True)
