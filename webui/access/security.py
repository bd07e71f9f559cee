"""Safe to reach over a network: Host and Origin checks, sign-in and CSRF, security headers, size and rate limits."""
import hmac
import secrets

from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from flask import current_app, g, make_response, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from werkzeug.exceptions import InternalServerError
from werkzeug.middleware.proxy_fix import ProxyFix

from ..errors import UserError, json_error
from ..secrets import app_key
from ..shared import make_sockets, make_window
from . import auth, cookies, origins
from .identity import current_owner, user_owner
from .limits import SocketRefused, client_key, client_socket, get_sockets

# No inline script and nothing from another host. KaTeX writes inline style attributes, so styles may be inline.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_CSRF = "csrf"
API_PREFIX = "/v1/"  # the OpenAI-compatible API (openai_api/): a bearer token, never a cookie, and checks of its own
SESSION_KEY_SALT = b"webui sessions"
SESSION_KEY_CONTEXT = b"webui/sessions/v1"


class Sessions(SecureCookieSessionInterface):
    """Signed-cookie sessions: the key derived on first use, the cookie Secure over HTTPS and scoped to the app's path."""

    def get_signing_serializer(self, app):
        """Derive the signing key from the app's secret (WEBUI_SECRET_KEY, or the data folder's key file)."""
        if not app.secret_key:
            app.secret_key = HKDF(app_key(app.config), 32, SESSION_KEY_SALT, SHA256, context=SESSION_KEY_CONTEXT).hex()
        return super().get_signing_serializer(app)

    def get_cookie_secure(self, app):
        """Secure whenever this request came over HTTPS (as a trusted proxy reports it)."""
        return request.is_secure

    def get_cookie_path(self, app):
        """Below the prefix a proxy serves the app under, so other apps on the host never see the cookie."""
        return request.script_root or "/"


def refuse(status, code, message, headers=None):
    """A JSON error: a stable code and a message saying what to do, never a page or a trace."""
    return json_error(code, message, status, headers)


def is_websocket():
    """Whether this request asks to become a WebSocket."""
    return request.headers.get("Upgrade", "").lower() == "websocket"


def csrf_token():
    """This session's CSRF token, made on first use: pages carry it in a meta tag, forms in a hidden field."""
    if SESSION_CSRF not in session:
        session[SESSION_CSRF] = secrets.token_urlsafe(32)
    return session[SESSION_CSRF]


def csrf_token_valid():
    """Whether the request carries this session's token (X-CSRF-Token, or the form field)."""
    expected = session.get(SESSION_CSRF, "")
    given = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


def sign_in_required():
    """Pages send the visitor to the sign-in form; the API answers 401 and a WebSocket 403, before upgrading."""
    message = _("Sign in first.")
    if is_websocket():
        return refuse(403, "unauthorized", message)
    if request.path.startswith("/api/"):
        return refuse(401, "unauthorized", message)
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def admit_socket():
    """Count the new WebSocket against its owner's and the server's caps, and remember it so it can be closed."""
    user = g.get("user")
    raw = client_socket(request.environ)
    # Without an account the owner is the browser's identity cookie, so sockets that another process on the same
    # address opens without it cannot use up the browser's place; all of that address share a looser cap.
    owner, address = (current_owner(), client_key()) if not user else (user_owner(user), None)
    try:
        token = session.get(auth.SESSION_TOKEN) if user else None
        g.socket_slot = get_sockets().admit(owner, raw, address, user, token)
    except SocketRefused as e:
        if e.code == "busy":
            return refuse(503, "busy", _("The server has too many open connections; try again in a minute."))
        return refuse(429, "rate_limited", _("Too many open connections: close some of this app's tabs."))
    return None


def guard():
    """Check each request in turn: the name it was sent to, its cookies, its size, the page that sent it, the user,
    the token."""
    policy = current_app.extensions["webui.security"]
    host = origins.parse_host(request.host)
    if host is None or not policy.knows(host[0]):
        message = _("This server does not answer to that name; the administrator can allow it with WEBUI_ALLOWED_HOSTS.")
        return refuse(421, "misdirected_request", message)
    if request.path.startswith(API_PREFIX):
        return None
    tossed = cookies.tossed()
    if tossed:
        text = cookies.message(tossed)
        api = is_websocket() or request.path.startswith("/api/")
        answer = refuse(400, "cookie_conflict", text) if api else cookies.page(text)
        return cookies.expire_planted(make_response(answer), tossed, None if origins.is_ip(host[0]) else host[0])
    limit = current_app.extensions["webui.body_limits"].get(request.endpoint, current_app.config["MAX_CONTENT_LENGTH"])
    if (request.content_length or 0) > limit:
        return refuse(413, "too_large", _("The request is too large (the limit is %(kib)d KiB).", kib=limit // 1024))
    origin = request.headers.get("Origin")
    # Browsers always send Origin with these; a client without one is no browser, so no other site's page.
    if origin is not None and (is_websocket() or request.method in UNSAFE_METHODS):
        if not policy.allows_origin(origin, *host):
            return refuse(403, "forbidden_origin", _("Requests from other sites' pages are refused."))
    if not auth.authenticate():
        return sign_in_required()
    if request.method in UNSAFE_METHODS and (origin is not None or g.get("user")) and not csrf_token_valid():
        return refuse(403, "csrf_failed", _("This page is out of date: reload it and try again."))
    return admit_socket() if is_websocket() else None


def release_socket(_error):
    """Forget a WebSocket once its request is over."""
    slot = g.pop("socket_slot", None)
    if slot is not None:
        get_sockets().release(slot)


def add_headers(response):
    """Put the security headers on every response (pages, files, API answers, errors); no-store on all but files."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    # Pages carry the CSRF token and conversations' text, API answers the same text: no cache may keep them. The
    # static files are the same for everyone and stay cacheable.
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def internal_error(error):
    """A failure inside the server: logged with its trace, answered without one."""
    return refuse(500, "internal_error", _("Something went wrong inside the server; its log has the details."))


def request_key(owner):
    """Whose allowance a request of `owner` counts against: a signed-in user's own; an anonymous owner's address, as a
    fresh cookie must not buy a fresh allowance."""
    return owner if g.get("user") else client_key()


def count_request(key=None, window="webui.requests", message=None):
    """Count a request against a per-minute allowance and refuse one too many with `message`, saying when to try again:
    by default WEBUI_REQUESTS_PER_MINUTE, one allowance for the page's chats, the API's and the requests that send
    providers their keys (a health check, a server's list of models); or the uploads' or imports' ("webui.uploads",
    "webui.imports"). `key` says whose allowance (request_key); by default the caller's."""
    counted = current_app.extensions[window]
    key = key or request_key(current_owner())
    if not counted.hit(key):
        message = message or _("Too many requests: wait a minute and try again.")
        raise UserError(message, code="rate_limited", retry_after=counted.wait(key))


def allow_body(app, endpoint, limit):
    """Let requests to `endpoint` carry up to `limit` bytes instead of WEBUI_MAX_BODY_BYTES (its view sets the same)."""
    app.extensions["webui.body_limits"][endpoint] = limit


def socket_cap(connections):
    """How many WebSockets may be open at once: each holds a connection for good, and pages need some left over."""
    return max(1, connections - max(2, connections // 4))


def init_app(app):
    """Wire the checks, headers, sessions, limits and proxy handling into the app (after auth.init_app)."""
    config = app.config
    proxies = config["WEBUI_TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_prefix=proxies)
    config["MAX_CONTENT_LENGTH"] = config["WEBUI_MAX_BODY_BYTES"]
    app.extensions["webui.body_limits"] = {}
    config.update(SESSION_COOKIE_NAME="webui_session", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    app.session_interface = Sessions()
    app.extensions["webui.security"] = origins.Policy.from_config(config)
    app.extensions["webui.requests"] = make_window(app, "requests", config["WEBUI_REQUESTS_PER_MINUTE"])
    app.extensions["webui.imports"] = make_window(app, "imports", config["WEBUI_IMPORTS_PER_MINUTE"])
    access = app.extensions["webui.auth"]
    app.extensions["webui.sockets"] = make_sockets(
        app, config["WEBUI_MAX_SOCKETS_PER_USER"],
        config["WEBUI_MAX_SOCKETS_PER_ADDRESS"],
        socket_cap(config["WEBUI_CONNECTIONS"]),
        access.users.token_is_current,
        access.required,
        app.app_context,
    )
    app.before_request(guard)
    app.after_request(add_headers)
    app.teardown_request(release_socket)
    app.register_error_handler(InternalServerError, internal_error)
    app.jinja_env.globals["csrf_token"] = csrf_token
