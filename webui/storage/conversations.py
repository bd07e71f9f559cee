"""Conversations and their message trees: the queries, and the JSON shapes the API answers with.

The queries are Core expressions, compiled once per database (the search's condition is each database's own: see
search.py).
"""
import json
import re
import secrets
import time
from datetime import datetime, timezone
from functools import lru_cache

from flask_babel import gettext as _
from sqlalchemy import Integer, Text, bindparam, cast, delete, func, insert, literal_column, select, update

from ..errors import UserError
from .schema import conversations, messages, stored_messages
from .search import TextBytes, match_condition

TITLE_CHARS = 60
ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def new_id():
    """A random, unguessable id for a conversation or message."""
    return secrets.token_urlsafe(12)


# The times a conversation may carry: an import outside them is refused, and a row stored outside what the API can
# write (put there by hand, or by a version that did not check) shows as the nearer end, not as a failed list.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)


def iso(timestamp):
    """A stored timestamp as ISO 8601 UTC, the way the API and exports write times."""
    try:
        moment = datetime.fromtimestamp(timestamp, timezone.utc)
    except (OverflowError, OSError, ValueError, TypeError):
        moment = LATEST if isinstance(timestamp, (int, float)) and timestamp > 0 else EARLIEST
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def title_from(text):
    """A conversation's title from its first message: one line of plain text, cut at a word near TITLE_CHARS."""
    line = " ".join(text.split())
    if len(line) <= TITLE_CHARS:
        return line
    cut = line.rfind(" ", TITLE_CHARS // 2, TITLE_CHARS)
    return line[: cut if cut > 0 else TITLE_CHARS].rstrip() + "…"


OWNED = select(conversations).where(conversations.c.id == bindparam("conversation_id"), conversations.c.owner == bindparam("owner_name"))
CREATE = insert(conversations).values(
    id=bindparam("conversation_id"), owner=bindparam("owner_name"), title=bindparam("new_title"),
    system_prompt=bindparam("prompt"), options=bindparam("new_options"), provider=bindparam("new_provider"),
    model=bindparam("new_model"), created_at=bindparam("created"), updated_at=bindparam("now"),
)
ADD_MESSAGE = insert(messages).values(
    id=bindparam("message_id"), conversation_id=bindparam("conversation_id"), parent_id=bindparam("parent"),
    role=bindparam("new_role"), content=bindparam("text"), status=bindparam("new_status"),
    provider=bindparam("new_provider"), model=bindparam("new_model"), created_at=bindparam("now"),
)
DELETE_OWNED = delete(conversations).where(conversations.c.owner == bindparam("owner_name"))
DELETE = delete(conversations).where(conversations.c.id == bindparam("conversation_id"))
A_CHILD = select(messages.c.seq).where(messages.c.parent_id == bindparam("message_id")).limit(1)
OWNER = conversations.c.owner == bindparam("owner_name")
# The stored messages of the owner's conversations.
IN_OWNED = stored_messages.join(conversations, conversations.c.id == stored_messages.c.conversation_id)
OWNED_MESSAGE = select(stored_messages).select_from(IN_OWNED).where(stored_messages.c.id == bindparam("message_id"), OWNER)
STORED_BYTES = select(func.coalesce(func.sum(TextBytes(stored_messages.c.content)), 0)).select_from(IN_OWNED).where(OWNER)
TREE = select(messages.c.id, messages.c.parent_id).where(messages.c.conversation_id == bindparam("conversation_id")).order_by(messages.c.seq)


def path_query():
    """The messages from the root down to the message `message_id`, in order, each with its whole text."""
    path = select(messages.c.id, messages.c.parent_id, literal_column("0", Integer).label("depth"))
    path = path.where(messages.c.id == bindparam("message_id")).cte("path", recursive=True)
    up = messages.alias("m")
    path = path.union_all(select(up.c.id, up.c.parent_id, path.c.depth + 1).join_from(up, path, up.c.id == path.c.parent_id))
    return select(stored_messages).join_from(stored_messages, path, path.c.id == stored_messages.c.id).order_by(path.c.depth.desc())


def latest_leaf_query():
    """The id of the most recently written message at or below the message `message_id`."""
    below = select(cast(bindparam("message_id"), Text).label("id")).cte("below", recursive=True)
    down = messages.alias("m")
    below = below.union_all(select(down.c.id).join_from(down, below, down.c.parent_id == below.c.id))
    return select(messages.c.id).join_from(messages, below, below.c.id == messages.c.id).order_by(messages.c.seq.desc()).limit(1)


PATH = path_query()
LATEST_LEAF = latest_leaf_query()


@lru_cache(maxsize=64)
def update_of(names):
    """The statement that sets these columns of a conversation (a few sets of them occur: each is built once)."""
    values = {name: bindparam(f"new_{name}") for name in names}
    return update(conversations).where(conversations.c.id == bindparam("conversation_id")).values(values)


def not_found():
    """The one answer for a conversation or message that does not exist or belongs to someone else."""
    return UserError(_("There is no such conversation."), code="not_found")


def owned_conversation(db, owner, conversation_id):
    """The conversation row, if `owner` owns it."""
    row = db.execute(OWNED, {"conversation_id": conversation_id, "owner_name": owner}).fetchone()
    if row is None:
        raise not_found()
    return row


def owned_message(db, owner, message_id, conversation_id=None):
    """The message row with its whole text (see answer_parts), if `owner` owns its conversation (and it is in
    `conversation_id`, when given)."""
    row = db.execute(OWNED_MESSAGE, {"message_id": message_id, "owner_name": owner}).fetchone()
    if row is None or conversation_id not in (None, row["conversation_id"]):
        raise not_found()
    return row


def create_conversation(db, owner, title, provider=None, model=None, system_prompt="", options=None, created_at=None):
    """Insert an empty conversation and return its id."""
    conversation_id, now = new_id(), time.time()
    created_at = now if created_at is None else created_at
    db.execute(CREATE, {
        "conversation_id": conversation_id, "owner_name": owner, "new_title": title, "prompt": system_prompt,
        "new_options": json.dumps(options or {}), "new_provider": provider, "new_model": model, "created": created_at,
        "now": now,
    })
    return conversation_id


def add_message(db, conversation_id, parent_id, role, content, status="complete", provider=None, model=None):
    """Insert a message under `parent_id` (None for a first message) and return its id."""
    message_id = new_id()
    db.execute(ADD_MESSAGE, {
        "message_id": message_id, "conversation_id": conversation_id, "parent": parent_id, "new_role": role,
        "text": content, "new_status": status, "new_provider": provider, "new_model": model, "now": time.time(),
    })
    return message_id


def update_conversation(db, conversation_id, **fields):
    """Change some columns of a conversation and mark it as just updated."""
    fields["updated_at"] = time.time()
    db.execute(update_of(tuple(fields)), {"conversation_id": conversation_id, **{f"new_{k}": v for k, v in fields.items()}})


def delete_conversation(db, conversation_id):
    """Delete a conversation with its messages (its owner checked by the caller, in the same transaction)."""
    db.execute(DELETE, {"conversation_id": conversation_id})


def delete_owned(db, owner):
    """Delete every conversation of `owner` with its messages; how many conversations there were."""
    return db.execute(DELETE_OWNED, {"owner_name": owner}).rowcount


def stored_bytes(db, owner):
    """How many bytes the text of all the owner's messages takes, every branch counted (UTF-8)."""
    return db.execute(STORED_BYTES, {"owner_name": owner}).fetchone()[0]


def has_children(db, message_id):
    """Whether anything was said after this message on some branch."""
    return db.execute(A_CHILD, {"message_id": message_id}).fetchone() is not None


def path_to(db, message_id):
    """The messages from the root down to `message_id`, in order, each with its whole text (see answer_parts)."""
    return db.execute(PATH, {"message_id": message_id}).fetchall()


def latest_leaf_under(db, message_id):
    """The most recently written message at or below `message_id`: the end of its newest branch."""
    return db.execute(LATEST_LEAF, {"message_id": message_id}).fetchone()["id"]


def siblings(db, conversation_id):
    """Every message's versions: parent id -> the ids of its children in the order they were written."""
    children = {}
    for row in db.execute(TREE, {"conversation_id": conversation_id}):
        children.setdefault(row["parent_id"], []).append(row["id"])
    return children


def error_of(row):
    """The stored {"code", "message"} of a failed answer, or None."""
    return json.loads(row["error"]) if row["error"] else None


def message_json(row, versions, files=()):
    """One message of the active path as the API shows it, with the JSON of the `files` it carries."""
    message = {
        "id": row["id"],
        "parent_id": row["parent_id"],
        "role": row["role"],
        "content": row["content"],
        "status": row["status"],
        "provider": row["provider"],
        "model": row["model"],
        "stats": json.loads(row["stats"]) if row["stats"] else None,
        "created_at": iso(row["created_at"]),
        "versions": versions,
        "version": versions.index(row["id"]),
        "attachments": list(files),
    }
    if row["error"]:
        message["error"] = error_of(row)
    return message


def summary_json(row):
    """A conversation as the list shows it."""
    return {"id": row["id"], "title": row["title"], "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def conversation_json(db, row):
    """A conversation with the messages of its active path, each with the attachments it carries."""
    # Imported here: the attachments package builds on this module.
    from ..attachments.records import of_messages

    path = path_to(db, row["leaf_id"]) if row["leaf_id"] else []
    children = siblings(db, row["id"]) if path else {}
    carried = of_messages(db, [m["id"] for m in path]) if path else {}
    return {
        **summary_json(row),
        "system_prompt": row["system_prompt"],
        "options": json.loads(row["options"]),
        "provider": row["provider"],
        "model": row["model"],
        "messages": [message_json(m, children[m["parent_id"]], carried.get(m["id"], ())) for m in path],
    }


def shown(db, owner, conversation_id):
    """The owner's conversation as GET /api/conversations/<id> answers it (see conversation_json); not_found if it is
    not theirs. Its queries go as one Database.read: one trip to a native thread for the page that opens it."""
    return conversation_json(db, owned_conversation(db, owner, conversation_id))


@lru_cache(maxsize=8)
def listing(match, after):
    """The query of a page of the list: the owner's conversations, newest first, those that satisfy `match` (a search
    condition, or None), after the cursor's position if `after` (a few kinds occur: each is built and compiled once)."""
    statement = select(conversations).where(OWNER)
    if match is not None:
        statement = statement.where(match)
    if after:
        position, updated_at = bindparam("position"), conversations.c.updated_at
        statement = statement.where(
            (updated_at < position) | ((updated_at == position) & (conversations.c.id < bindparam("cursor_id")))
        )
    return statement.order_by(conversations.c.updated_at.desc(), conversations.c.id.desc()).limit(bindparam("most"))


def parse_cursor(cursor):
    """The (updated_at, id) position a `before` cursor points at."""
    when, _sep, conversation_id = cursor.partition(":")
    try:
        position = float(when)
    except ValueError:
        position = None
    if position is None or not ID.fullmatch(conversation_id):
        raise UserError(_("“before” is not a cursor this server gave out."), code="bad_request")
    return position, conversation_id


def list_conversations(db, owner, query, limit, before):
    """The owner's conversations, newest first, optionally only those matching `query`; returns (rows, next cursor)."""
    params = {"owner_name": owner, "most": limit + 1}
    match = match_condition(db, query or "")
    if match:
        params["terms"] = match[1]
    elif query and query.strip():
        return [], None  # only punctuation: no word to look for, so nothing matches
    if before:
        params["position"], params["cursor_id"] = parse_cursor(before)
    rows = db.execute(listing(match and match[0], bool(before)), params).fetchall()
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], f"{last['updated_at']!r}:{last['id']}"
