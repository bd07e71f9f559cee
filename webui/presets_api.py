"""The presets API: each user's own presets, the shared ones only admins change, and each user's default."""
import json

from flask import Blueprint, current_app, jsonify
from flask_babel import gettext as _

from .access.identity import current_owner
from .access.roles import require_admin
from .json_input import json_body
from .errors import bad_request
from .storage import get_db, presets, validate
from .storage.database import transaction

MAX_NAME_CHARS = 100
# A bound on what one user (or the shared list) keeps: a page that loops cannot fill the disk with presets.
MAX_PRESETS = 200
FIELDS = ("name", "system_prompt", "options", "shared", "default")
bp = Blueprint("presets", __name__, url_prefix="/api/presets")


def preset_name(value):
    """A preset's name: one line of text, not empty."""
    return validate.one_line(value, MAX_NAME_CHARS, _("The preset's name must be text of 1 to %(n)d characters.", n=MAX_NAME_CHARS))


def checked(body, creating):
    """The fields of a POST or PATCH body, each checked as a conversation's are (options as in a chat frame)."""
    if not isinstance(body, dict):
        raise bad_request(_("The request must be a JSON object."))
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise bad_request(_("Unknown field “%(name)s”.", name=unknown[0][:40]))
    if creating and "name" not in body:
        raise bad_request(_("The preset's name must be text of 1 to %(n)d characters.", n=MAX_NAME_CHARS))
    for flag in ("shared", "default"):
        if flag in body and not isinstance(body[flag], bool):
            raise bad_request(_("“%(name)s” must be true or false.", name=flag))
    fields = validate.settings({key: body[key] for key in ("system_prompt", "options") if key in body})
    if "options" in fields:
        fields["options"] = json.dumps(fields["options"])
    if "name" in body:
        fields["name"] = preset_name(body["name"])
    return fields, {flag: body[flag] for flag in ("shared", "default") if flag in body}


def show(db, owner, preset_id):
    """One preset as the caller sees it."""
    return presets.preset_json(presets.visible_preset(db, owner, preset_id))


@bp.get("")
def index():
    """The caller's own presets and the shared ones, by name."""
    return jsonify(presets=[presets.preset_json(row) for row in presets.visible(get_db(), current_owner())])


@bp.post("")
def create():
    """Store a new preset: the caller's own, or (admins only) a shared one."""
    fields, flags = checked(json_body(current_app.config["WEBUI_MAX_REQUEST_BYTES"]), creating=True)
    owner = current_owner()
    if flags.get("shared"):
        require_admin()
    keeper = None if flags.get("shared") else owner
    db = get_db()
    with transaction(db):
        if presets.count_owned(db, keeper) >= MAX_PRESETS:
            raise bad_request(_("There are already %(n)d presets: delete some first.", n=MAX_PRESETS))
        preset_id = presets.create(db, keeper, **fields)
        if flags.get("default"):
            presets.set_default(db, owner, preset_id)
    return jsonify(show(db, owner, preset_id)), 201


@bp.patch("/<preset_id>")
def update(preset_id):
    """Change a preset (a shared one: admins only), share or unshare it (admins only), make it the caller's default or
    not. Choosing a shared preset as one's default changes nothing anyone else sees, so anyone may."""
    fields, flags = checked(json_body(current_app.config["WEBUI_MAX_REQUEST_BYTES"]), creating=False)
    owner = current_owner()
    db = get_db()
    with transaction(db):
        row = presets.visible_preset(db, owner, preset_id)
        shared = row["owner"] is None
        sharing = flags.get("shared", shared)
        if (shared and fields) or sharing != shared:
            require_admin()
        if sharing != shared:
            fields["owner"] = None if sharing else owner
            if not sharing:
                presets.forget_for_others(db, preset_id, owner)
        if fields:
            presets.update(db, preset_id, **fields)
        if flags.get("default"):
            presets.set_default(db, owner, preset_id)
        elif flags.get("default") is False:
            presets.clear_default(db, owner, preset_id)
    return jsonify(show(db, owner, preset_id))


@bp.delete("/<preset_id>")
def delete(preset_id):
    """Delete a preset (a shared one: admins only); it stops being anyone's default."""
    owner = current_owner()
    db = get_db()
    with transaction(db):
        if presets.visible_preset(db, owner, preset_id)["owner"] is None:
            require_admin()
        presets.delete(db, preset_id)
    return "", 204
