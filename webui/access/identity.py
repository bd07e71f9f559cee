"""Who owns a conversation: the signed-in user, or a browser remembered by a random cookie."""
import re
import secrets

from flask import g, request

COOKIE = "webui_owner"
# Where the cookie is set: the whole host, behind a proxy's prefix too (cookies.py refuses copies under other paths).
COOKIE_PATH = "/"
COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest lifetime browsers accept
# 128 random bits, as secrets.token_urlsafe(16) writes them.
TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")


def user_owner(name):
    """The owner of what the account `name` reads and writes."""
    return "user:" + name


def current_owner():
    """The owner of what this request reads and writes: "user:<name>" when signed in, else "anon:<cookie>"."""
    user = g.get("user")
    if user:
        return user_owner(user)
    if "owner" not in g:
        token = request.cookies.get(COOKIE, "")
        if not TOKEN.fullmatch(token):
            token = g.new_owner_token = secrets.token_urlsafe(16)
        g.owner = "anon:" + token
    return g.owner


def remember_owner(response):
    """Hand a browser its new identity; it is what lets the same person find their conversations again."""
    token = g.get("new_owner_token")
    if token and not g.get("user"):
        response.set_cookie(
            COOKIE, token, max_age=COOKIE_MAX_AGE, path=COOKIE_PATH, httponly=True, samesite="Lax", secure=request.is_secure
        )
    return response


def init_app(app):
    """Set the identity cookie on the responses that created one."""
    app.after_request(remember_owner)
