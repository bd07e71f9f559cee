"""Which web pages may call /v1 from a browser: the server's own and those WEBUI_API_ALLOWED_ORIGINS names, no other.

Any other page's request is refused before its token is read, so a browser's cross-site request never reaches a
provider. Only the named origins get CORS headers, with a preflight that allows what OpenAI's browser clients send;
never Access-Control-Allow-Credentials: the API takes no cookie, only a bearer token.
"""
import re

from flask import current_app, request

from ..access.origins import DEFAULT_PORTS, parse_host, parse_origin

METHODS = "GET, POST, OPTIONS"
# A preflight asks for the headers its request will carry (OpenAI's JavaScript client adds its own X-Stainless-*):
# any header names may be allowed, as no cookie is ever taken.
HEADER_NAMES = re.compile(r"[A-Za-z0-9-]+(\s*,\s*[A-Za-z0-9-]+)*")
PREFLIGHT_SECONDS = 600


def named(origin):
    """Whether WEBUI_API_ALLOWED_ORIGINS names `origin`."""
    return parse_origin(origin) in current_app.extensions["webui.api_origins"]


def own(origin):
    """Whether `origin` is this server's own, as the request's Host header names it."""
    host = parse_host(request.host)
    return host is not None and parse_origin(origin) == (request.scheme, host[0], host[1] or DEFAULT_PORTS.get(request.scheme))


def allows(origin):
    """Whether a page from `origin` may call the API."""
    return named(origin) or own(origin)


def preflight():
    """The answer to a browser's OPTIONS request (its origin is allowed, or it sent none)."""
    response = current_app.response_class(status=204, headers={"Allow": METHODS})
    origin = request.headers.get("Origin")
    if origin is not None and named(origin):
        response.headers["Access-Control-Allow-Methods"] = METHODS
        wanted = request.headers.get("Access-Control-Request-Headers", "")
        response.headers["Access-Control-Allow-Headers"] = wanted if HEADER_NAMES.fullmatch(wanted) else "Authorization, Content-Type"
        response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_SECONDS)
    return response


def add_headers(response):
    """Let a named origin's page read the answer (and its Retry-After); nothing for anyone else."""
    origin = request.headers.get("Origin")
    if origin is not None and named(origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    response.vary.add("Origin")
    return response
