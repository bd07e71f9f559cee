"""Cookie tossing: refusing requests that carry our identity or session cookie twice, and removing the planted copy.

Cookies do not keep to a port: a page served on another port of this host (or by a site its cookies are shared with)
can set `webui_owner` or `webui_session` for this host. Set with a narrower path than ours, the browser sends the
planted one first, and the server would read and write as its planter while the person sees their own page. Two
cookies of one of these names in a request therefore mean tossing, and the request is refused before either is read.
"""
from flask import current_app, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _

from . import identity


def own_paths():
    """Our cookies' names, each with the path we set it under."""
    app = current_app._get_current_object()
    session_path = app.session_interface.get_cookie_path(app)
    return {identity.COOKIE: identity.COOKIE_PATH, app.config["SESSION_COOKIE_NAME"]: session_path}


def tossed():
    """The names of our cookies this request carries more than once (static files read no cookie: never refused)."""
    if request.endpoint == "static":
        return []
    return [name for name in own_paths() if len(request.cookies.getlist(name)) > 1]


def narrower_paths(own):
    """The paths a cookie sent with this request can have that are narrower than `own`: the request's path up to each
    of its slashes (with and without it) and the whole path, below `own`. A cookie is sent only where its path is one
    of these, so the planted one, unless it has our path, is among them."""
    full = request.script_root + request.path
    slashes = [i for i, c in enumerate(full) if c == "/"]
    paths = {full, *(full[:i] for i in slashes), *(full[: i + 1] for i in slashes)}
    return sorted(path for path in paths if len(path) > len(own) and path.startswith(own))


def expire_planted(response, names, domain=None):
    """Tell the browser to drop every copy of `names` under a narrower path than ours, host-only or set for `domain`
    (the host, when it is a name), and never ours: without an account, the identity cookie is what finds the
    browser's conversations."""
    paths = own_paths()
    for name in names:
        for path in narrower_paths(paths[name]):
            response.delete_cookie(name, path=path)
            if domain:
                response.delete_cookie(name, path=path, domain=domain)
    return response


def message(names):
    """What happened and how to recover, in the user's language."""
    name = names[0]
    return _(
        "This browser sent the cookie %(name)s more than once: a page on another port of this host may have planted "
        "one to read what you write here, so the request was refused. The copies this server could find have been "
        "removed: reload the page. If this message comes back, delete this host's cookies named %(name)s in the "
        "browser's settings, all but the one whose path is “%(path)s” (this site's own).",
        name=name,
        path=own_paths()[name],
    )


def page(text):
    """The refusal as a page, for a browser that asked for one."""
    again = request.script_root + request.full_path.rstrip("?")
    title = _("Conflicting cookies")
    return render_template("refused.html", locale=str(get_locale()), title=title, message=text, again=again), 400
