"""Presets (a name, a system prompt and generation options; a user's own or shared with everyone) and each user's default."""
import json
import time

from flask_babel import gettext as _

from ..errors import UserError
from .conversations import iso, new_id

# What every list and lookup of a user sees: their own presets and the shared ones, each marked if it is their default.
VISIBLE = """SELECT p.*, d.preset_id IS NOT NULL AS is_default FROM presets p
    LEFT JOIN preset_defaults d ON d.owner = ? AND d.preset_id = p.id
    WHERE (p.owner = ? OR p.owner IS NULL)"""


def not_found():
    """The one answer for a preset that does not exist or is someone else's."""
    return UserError(_("There is no such preset."), code="not_found")


def visible(db, owner):
    """The presets `owner` sees, by name."""
    return db.execute(VISIBLE + " ORDER BY lower(p.name), p.seq", (owner, owner)).fetchall()


def visible_preset(db, owner, preset_id):
    """The preset row, if `owner` sees it (their own or a shared one)."""
    row = db.execute(VISIBLE + " AND p.id = ?", (owner, owner, preset_id)).fetchone()
    if row is None:
        raise not_found()
    return row


def count_owned(db, owner):
    """How many presets `owner` keeps (None: the shared ones)."""
    if owner is None:
        return db.execute("SELECT COUNT(*) FROM presets WHERE owner IS NULL").fetchone()[0]
    return db.execute("SELECT COUNT(*) FROM presets WHERE owner = ?", (owner,)).fetchone()[0]


def create(db, owner, name, system_prompt="", options="{}"):
    """Store a new preset kept by `owner`, or shared when `owner` is None; its id."""
    preset_id, now = new_id(), time.time()
    db.execute(
        "INSERT INTO presets (id, owner, name, system_prompt, options, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (preset_id, owner, name, system_prompt, options, now, now),
    )
    return preset_id


def update(db, preset_id, **columns):
    """Change some columns of a preset and mark it as just updated."""
    columns["updated_at"] = time.time()
    assignments = ", ".join(f"{name} = ?" for name in columns)
    db.execute(f"UPDATE presets SET {assignments} WHERE id = ?", (*columns.values(), preset_id))


def forget_for_others(db, preset_id, owner):
    """Drop the preset as the default of everyone but `owner`: it has become `owner`'s own, which nobody else sees."""
    db.execute("DELETE FROM preset_defaults WHERE preset_id = ? AND owner != ?", (preset_id, owner))


def delete(db, preset_id):
    """Delete a preset; it stops being anyone's default."""
    db.execute("DELETE FROM presets WHERE id = ?", (preset_id,))


def delete_owned(db, owner):
    """Delete every preset `owner` keeps, and their choice of a default."""
    db.execute("DELETE FROM preset_defaults WHERE owner = ?", (owner,))
    db.execute("DELETE FROM presets WHERE owner = ?", (owner,))


def set_default(db, owner, preset_id):
    """Make the preset `owner`'s default, in place of any other."""
    db.execute(
        "INSERT INTO preset_defaults (owner, preset_id) VALUES (?, ?)"
        " ON CONFLICT (owner) DO UPDATE SET preset_id = excluded.preset_id",
        (owner, preset_id),
    )


def clear_default(db, owner, preset_id):
    """`owner` has no default any more, if it was this preset."""
    db.execute("DELETE FROM preset_defaults WHERE owner = ? AND preset_id = ?", (owner, preset_id))


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
