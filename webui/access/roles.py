"""Who may change what the whole server uses: an admin, or anyone when signing in is not required."""
from flask import g
from flask_babel import gettext as _

from ..errors import UserError
from .auth import get_access


def is_admin():
    """Whether this request's person may change server-wide settings: an admin's account, or anyone when signing in is
    not required (no accounts on loopback, or --no-auth). Read afresh at every call, so a demotion takes effect at once,
    on open sockets too."""
    access = get_access()
    if not access.required():
        return True
    user = g.get("user")
    return bool(user) and access.users.role(user) == "admin"


def require_admin():
    """Refuse anyone but an admin with 403 `forbidden`."""
    if not is_admin():
        raise UserError(_("Only an administrator can change this."), code="forbidden")
