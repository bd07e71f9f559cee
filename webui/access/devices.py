"""Known devices: browsers that have signed in to an account, remembered by a signed cookie that names it.

The per-account back-off stops guesses spread over many addresses, but it makes the account's owner wait for them
too: one address pacing a few wrong passwords a minute would keep the owner out most of the time. A sign-in from a
known device is counted under the device instead of the account name, so it meets its address's back-off and its own,
never the one strangers fill. Only a sign-in hands the cookie out (it is signed with the app's key), and a stolen one
gives its thief no more guesses than an account's back-off allows.
"""
import secrets

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeSerializer

from . import identity

COOKIE = "webui_device"
# Keeps device cookies from ever reading as sessions (signed with the same key) and the other way round.
SALT = "webui-known-device"


def serializer():
    """Signs and reads device cookies with the app's session key."""
    app = current_app._get_current_object()
    # The session interface derives the app's signing key on first use (see security.Sessions).
    app.session_interface.get_signing_serializer(app)
    return URLSafeSerializer(app.secret_key, salt=SALT)


def device_key(name):
    """This browser's key in the per-account back-off as a known device of the account `name`, or None. Every copy of
    the cookie is read: one planted under a narrower path (see cookies.py) cannot hide the browser's own."""
    reader = serializer()
    for value in request.cookies.getlist(COOKIE):
        try:
            account, token = reader.loads(value)
        except (BadSignature, TypeError, ValueError):
            continue
        if account == name:
            # No account name has a colon (auth.NAME): a device's key is never an account's.
            return "device:" + token
    return None


def remember_device(response, name):
    """Make this browser, not yet a known device of the account `name`, one (of that account only: signing in to
    another replaces it)."""
    value = serializer().dumps([name, secrets.token_urlsafe(16)])
    response.set_cookie(
        COOKIE,
        value,
        max_age=identity.COOKIE_MAX_AGE,
        path=identity.COOKIE_PATH,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
    )
    return response
