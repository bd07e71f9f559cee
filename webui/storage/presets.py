"""Presets (a name, a system prompt and generation options; a user's own or shared with everyone) and each user's default.

Queries are Core expressions, compiled once per database.
"""
import json
import time
from functools import lru_cache

from flask_babel import gettext as _
from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy import delete as delete_from
from sqlalchemy import insert as insert_into
from sqlalchemy import update as update_table

from ..errors import UserError
from .conversations import iso, new_id
from .schema import preset_defaults as defaults
from .schema import presets as table
from .search import Upserts

# What every list and lookup of a user (`viewer`) sees: their own presets and the shared ones, each marked if it is
# their default.
VISIBLE = (
    select(table, defaults.c.preset_id.is_not(None).label("is_default"))
    .select_from(table.outerjoin(defaults, and_(defaults.c.owner == bindparam("viewer"), defaults.c.preset_id == table.c.id)))
    .where(or_(table.c.owner == bindparam("viewer"), table.c.owner.is_(None)))
)
VISIBLE_BY_NAME = VISIBLE.order_by(func.lower(table.c.name), table.c.seq)
VISIBLE_BY_ID = VISIBLE.where(table.c.id == bindparam("preset_id"))
COUNT_SHARED = select(func.count()).select_from(table).where(table.c.owner.is_(None))
COUNT_OWNED = select(func.count()).select_from(table).where(table.c.owner == bindparam("owner_name"))
CREATE = insert_into(table).values(
    id=bindparam("preset_id"), owner=bindparam("owner_name"), name=bindparam("preset_name"),
    system_prompt=bindparam("prompt"), options=bindparam("preset_options"),
    created_at=bindparam("now"), updated_at=bindparam("now"),
)
FORGET_FOR_OTHERS = delete_from(defaults).where(defaults.c.preset_id == bindparam("preset_id"), defaults.c.owner != bindparam("owner_name"))
DELETE = delete_from(table).where(table.c.id == bindparam("preset_id"))
DELETE_DEFAULT_OF = delete_from(defaults).where(defaults.c.owner == bindparam("owner_name"))
DELETE_OWNED = delete_from(table).where(table.c.owner == bindparam("owner_name"))
# By database name (see search.Upserts).
SET_DEFAULT = Upserts(defaults, ("owner",), {"owner": bindparam("owner_name"), "preset_id": bindparam("chosen")})
CLEAR_DEFAULT = delete_from(defaults).where(defaults.c.owner == bindparam("owner_name"), defaults.c.preset_id == bindparam("preset_id"))


@lru_cache(maxsize=64)
def update_of(names):
    """The statement that sets these columns of a preset (a few sets of them occur: each is built and compiled once)."""
    return update_table(table).where(table.c.id == bindparam("preset_id")).values({name: bindparam(f"new_{name}") for name in names})


def not_found():
    """The one answer for a preset that does not exist or is someone else's."""
    return UserError(_("There is no such preset."), code="not_found")


def visible(db, owner):
    """The presets `owner` sees, by name."""
    return db.execute(VISIBLE_BY_NAME, {"viewer": owner}).fetchall()


def visible_preset(db, owner, preset_id):
    """The preset row, if `owner` sees it (their own or a shared one)."""
    row = db.execute(VISIBLE_BY_ID, {"viewer": owner, "preset_id": preset_id}).fetchone()
    if row is None:
        raise not_found()
    return row


def count_owned(db, owner):
    """How many presets `owner` keeps (None: the shared ones)."""
    if owner is None:
        return db.execute(COUNT_SHARED).fetchone()[0]
    return db.execute(COUNT_OWNED, {"owner_name": owner}).fetchone()[0]


def create(db, owner, name, system_prompt="", options="{}"):
    """Store a new preset kept by `owner`, or shared when `owner` is None; its id."""
    preset_id, now = new_id(), time.time()
    db.execute(CREATE, {"preset_id": preset_id, "owner_name": owner, "preset_name": name, "prompt": system_prompt,
                        "preset_options": options, "now": now})
    return preset_id


def update(db, preset_id, **columns):
    """Change some columns of a preset and mark it as just updated."""
    columns["updated_at"] = time.time()
    params = {f"new_{name}": value for name, value in columns.items()}
    db.execute(update_of(tuple(columns)), {"preset_id": preset_id, **params})


def forget_for_others(db, preset_id, owner):
    """Drop the preset as the default of everyone but `owner`: it has become `owner`'s own, which nobody else sees."""
    db.execute(FORGET_FOR_OTHERS, {"preset_id": preset_id, "owner_name": owner})


def delete(db, preset_id):
    """Delete a preset; it stops being anyone's default."""
    db.execute(DELETE, {"preset_id": preset_id})


def delete_owned(db, owner):
    """Delete every preset `owner` keeps, and their choice of a default."""
    db.execute(DELETE_DEFAULT_OF, {"owner_name": owner})
    db.execute(DELETE_OWNED, {"owner_name": owner})


def set_default(db, owner, preset_id):
    """Make the preset `owner`'s default, in place of any other."""
    db.execute(SET_DEFAULT[db.store.name], {"owner_name": owner, "chosen": preset_id})


def clear_default(db, owner, preset_id):
    """`owner` has no default any more, if it was this preset."""
    db.execute(CLEAR_DEFAULT, {"owner_name": owner, "preset_id": preset_id})


def preset_json(row):
    """A preset as the API answers it."""
    return {
        "id": row["id"],
        "name": row["name"],
        "system_prompt": row["system_prompt"],
        "options": json.loads(row["options"]),
        "shared": row["owner"] is None,
        "default": bool(row["is_default"]),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }
