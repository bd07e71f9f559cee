"""Who the caller is and what they may do (GET /api/me), and the accounts with their roles, for admins."""
from flask import Blueprint, g, jsonify

from .access.auth import get_access
from .access.roles import is_admin, require_admin

bp = Blueprint("accounts", __name__, url_prefix="/api")


@bp.get("/me")
def me():
    """The signed-in user (None without accounts) and whether they are an admin now: read afresh at every call."""
    return jsonify(user=g.get("user"), admin=is_admin())


@bp.get("/admin/users")
def users():
    """Every account with its role; admins only."""
    require_admin()
    return jsonify(users=[{"name": name, "role": role} for name, role in get_access().users.roles()])
