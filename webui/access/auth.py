"""Accounts and signing in: users with scrypt hashes (kept by storage.accounts), the sign-in page, sessions that can end."""
import hmac
import ipaddress
import math
import re
import secrets
from functools import cache

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.security import check_password_hash, generate_password_hash

from ..cooperative import in_native_thread
from ..errors import UserError
from ..i18n import LANGUAGES
from ..shared import make_backoffs, publish_signout
from ..storage import accounts
from ..storage.engine import duplicate_errors
from .devices import device_key, remember_device
from .limits import BackedOff, Backoff, client_key, get_sockets

SESSION_USER = "user"
SESSION_TOKEN = "token"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
# What a visitor may see before signing in: the form itself, and the stylesheet it uses.
PUBLIC_ENDPOINTS = frozenset({"auth.login", "static"})

bp = Blueprint("auth", __name__)


def is_loopback(host):
    """Whether an address to listen on can be reached from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@cache
def dummy_hash():
    """A hash to check passwords against when the name is unknown, so that takes as long as a wrong password."""
    return in_native_thread(generate_password_hash, secrets.token_urlsafe(16), "scrypt")


def hash_password(password):
    """The scrypt hash of an acceptable password."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(_("A password needs %(low)d to %(high)d characters.", low=MIN_PASSWORD, high=MAX_PASSWORD))
    return in_native_thread(generate_password_hash, password, "scrypt")


class Users:
    """The accounts (storage.accounts); every session of a user carries the user's token, and a new token ends them all."""

    def has_any(self):
        """Whether at least one account exists."""
        return accounts.has_any()

    def names(self):
        """Every user name, sorted."""
        return accounts.names()

    def token_is_current(self, name, token):
        """Whether a session's token is still the user's: signing out, a new password or deletion end it."""
        current = accounts.token_of(name)
        return current is not None and hmac.compare_digest(current.encode(), str(token).encode())

    def check(self, name, password):
        """The user's token when the password is right, else None; an unknown name costs as much time as a known one."""
        stored, token = accounts.credentials(name) or (dummy_hash(), None)
        # scrypt takes tens of milliseconds of C: under gevent every answer would stop for each sign-in.
        return token if in_native_thread(check_password_hash, stored, password) and token else None

    def role(self, name):
        """The account's role, "admin" or "user", or None when there is no such account."""
        return accounts.role(name)

    def roles(self):
        """Every account's (name, role), sorted by name."""
        return accounts.roles()

    def add(self, name, password, admin=False):
        """Create an account, an admin if `admin` or if it is the first."""
        if not NAME.fullmatch(name):
            raise UserError(_("A user name is 1 to 64 letters, digits and . _ @ - and starts with a letter or digit."))
        try:
            accounts.add(name, hash_password(password), secrets.token_urlsafe(24), "admin" if admin else "user")
        except duplicate_errors():
            raise UserError(_("There is already a user called “%(name)s”.", name=name), code="exists") from None

    def set_password(self, name, password):
        """Change a password, ending every session of the user; False when there is no such user."""
        changed = accounts.set_credentials(name, hash_password(password), secrets.token_urlsafe(24))
        if changed:
            publish_signout(name)
        return changed

    def renew(self, name):
        """End every session of the user."""
        accounts.set_token(name, secrets.token_urlsafe(24))
        publish_signout(name)

    def set_role(self, name, role):
        """Make an account an "admin" or a "user"; False when there is no such user, UserError when that would demote
        the last admin."""
        if role == "admin":
            return accounts.promote(name)
        if accounts.demote(name):
            # Their pages reconnect and are shown as a plain user's.
            publish_signout(name)
            return True
        if accounts.role(name) == "admin":
            raise UserError(
                _("%(name)s is the last administrator: make another account one first (webui user promote NAME).", name=name),
                code="last_admin",
            )
        return False

    def delete(self, name):
        """Delete an account, ending its sessions: (False, None) when there is no such user, else (True, the oldest
        account left if it became an admin because this was the last one, or None)."""
        deleted, heir = accounts.delete(name)
        if deleted:
            publish_signout(name)
        return deleted, heir


class Access:
    """The app's accounts, the sign-in back-off, and whether signing in is required."""

    def __init__(self, app):
        """Read where the server listens."""
        config = app.config
        self.users = Users()
        # A sign-in meets two back-offs: its address's, and its account name's. Guesses spread over many addresses
        # (easy with IPv6) still meet the one per account name; it is looser than the one per address, and a browser
        # that has signed in to the account before meets its own instead (devices.py), so strangers' failures cannot
        # keep the owner out.
        self.backoff = make_backoffs(
            app,
            ("sign-in-address", Backoff()),
            ("sign-in-account", Backoff(free=20, window=900.0, first_wait=60.0, longest=900.0)),
        )
        # On a network address, deleting the last account must lock everyone out, not let everyone in.
        self.exposed = not is_loopback(config["WEBUI_HOST"]) and not config.get("WEBUI_NO_AUTH")

    def required(self):
        """Signing in is required once an account exists, and always on a network address unless --no-auth."""
        return self.exposed or self.users.has_any()


def get_access():
    """The current app's Access."""
    return current_app.extensions["webui.auth"]


def authenticate():
    """Set g.user from the session; False when the request needs a signed-in user and has none."""
    access = get_access()
    name, token = session.get(SESSION_USER), session.get(SESSION_TOKEN)
    if name and token:
        if access.users.token_is_current(name, token):
            g.user = name
            return True
        session.clear()  # ended by signing out elsewhere, a new password or a deleted account
    return request.endpoint in PUBLIC_ENDPOINTS or not access.required()


def safe_next(target):
    """Where to go after signing in: a path on this site, or the start page (never another host)."""
    target = target or ""
    # One slash, then no second: "//evil.example" names a host, and so does "////evil.example", which werkzeug
    # writes into Location as "//evil.example". Browsers read a backslash as a slash and drop tabs and newlines, so
    # "/\\evil.example" and "/\t/evil.example" would leave the site too: neither may appear anywhere.
    path = target.startswith("/") and not target.startswith("//")
    return target if path and "\\" not in target and target.isprintable() else "/"


def login_page(target, error=None, status=200, headers=None, username=""):
    """The sign-in form, with an error when the last attempt failed."""
    html = render_template(
        "login.html", languages=LANGUAGES, locale=str(get_locale()), next=target, error=error, username=username
    )
    return html, status, headers or {}


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form and check it, ever more slowly for a client that keeps guessing."""
    access = get_access()
    target = safe_next(request.values.get("next"))
    if not access.required() or g.get("user"):
        return redirect(request.script_root + target)
    if request.method == "GET":
        return login_page(target)
    username = request.form.get("username", "")
    # The account's back-off keeps each name it counts: one no account can have (any form field up to half a megabyte)
    # is counted as the one invalid name, or a stream of them would fill the server's memory.
    account = username if NAME.fullmatch(username) else ""
    # A browser that has signed in to the account before is counted apart from strangers guessing it.
    device = device_key(account) if account else None
    # Counted as failed before the password is checked (the hash takes long enough for a burst to pass a count made
    # afterwards), and taken back if it is right.
    try:
        attempts = access.backoff.attempt((client_key(), device or account))
    except BackedOff as refused:
        address_wait, account_wait = refused.waits
        seconds = max(1, math.ceil(max(address_wait, account_wait)))
        if address_wait >= account_wait:
            error = _("Too many failed sign-ins from your address: try again in %(seconds)d seconds.", seconds=seconds)
        elif device:
            error = _("Too many failed sign-ins from this browser: try again in %(seconds)d seconds.", seconds=seconds)
        else:
            error = _("Too many failed sign-ins to this account: try again in %(seconds)d seconds.", seconds=seconds)
        return login_page(target, error, 429, {"Retry-After": str(seconds)}, username)
    token = access.users.check(username, request.form.get("password", ""))
    if token is None:
        return login_page(target, _("Wrong user name or password."), 401, username=username)
    access.backoff.forgive(attempts)
    session.clear()
    session.permanent = True
    session[SESSION_USER] = username
    session[SESSION_TOKEN] = token
    signed_in = redirect(request.script_root + target)
    return signed_in if device else remember_device(signed_in, username)


@bp.post("/logout")
def logout():
    """Sign out everywhere: every session of this user ends and their open WebSockets close."""
    name = g.get("user")
    if name:
        get_access().users.renew(name)
        get_sockets().close_user(name)
    session.clear()
    return redirect(url_for("auth.login"))


def init_app(app):
    """Keep the accounts and mount the sign-in page."""
    app.extensions["webui.auth"] = Access(app)
    app.register_blueprint(bp)
