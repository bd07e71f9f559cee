"""A streaming answer's text in storage: one part appended per write while it streams, all of it in its content at its end.

Invariant: only a message that is `streaming` has parts (table answer_parts); its whole text is its content followed by
its parts in the order of their seq, which is what the view stored_messages gives every reader. A write while it
streams touches neither its content nor its content's search index, so it costs what it adds, however long the
answer already is; its end writes the content once, which the search index then takes in once.
An answer whose process died streaming is ended by recover() at the next start, with the text it had written.
"""
import json
import re
from dataclasses import dataclass

from .database import run_many, run_statement, transaction

# The longest unfinished word carried in front of the next part in the search index, so that a word a write cut in
# two is found whole while the answer streams; a longer one is found by its pieces until the answer ends.
LEAD_CHARS = 64
UNFINISHED_WORD = re.compile(r"\S*\Z")
# A message's whole text as the view gives it, inside a statement that changes the messages table.
WHOLE_TEXT = "(SELECT s.content FROM stored_messages s WHERE s.id = messages.id)"


def lead_after(lead, text):
    """The unfinished word at the end of a part `text` indexed with `lead` in front: the lead of the next part."""
    return UNFINISHED_WORD.search((lead + text[-LEAD_CHARS:])[-LEAD_CHARS:]).group()


def json_or_none(value):
    """A value for a JSON column: None stays NULL."""
    return json.dumps(value) if value else None


@dataclass(frozen=True)
class Part:
    """Text to add to a streaming answer, indexed with `lead` in front, and what its message says meanwhile."""

    message_id: str
    text: str
    lead: str
    provider: str
    model: str
    stats: dict | None


def append_parts(connection, parts):
    """Add each part to its streaming answer and write its stats, with one statement for all the messages and one for
    all the parts, on a Link in a write transaction (see Database.write). The ids of the messages that
    are gone (a conversation deleted, perhaps by another process), which get nothing. Contents and statuses stay as
    they are."""
    changed = run_many(
        connection,
        "UPDATE messages SET provider = ?, model = ?, stats = ? WHERE id = ?",
        [(part.provider, part.model, json_or_none(part.stats), part.message_id) for part in parts],
    )
    gone = set()
    if changed < len(parts):
        exists = "SELECT count(*) FROM messages WHERE id = ?"
        gone = {part.message_id for part in parts if not run_statement(connection, exists, (part.message_id,))[0][0][0]}
    run_many(
        connection,
        "INSERT INTO answer_parts (message_id, text, lead) VALUES (?, ?, ?)",
        [(part.message_id, part.text, part.lead) for part in parts if part.text and part.message_id not in gone],
    )
    return gone


@dataclass(frozen=True)
class End:
    """How a streaming answer ended, with `tail`, the text no part has."""

    message_id: str
    tail: str
    status: str
    provider: str
    model: str
    stats: dict | None
    error: dict | None


def end_answers(connection, ends):
    """Write each End: its answer's parts and tail appended to its content, and how it ended, on a Link in a write
    transaction (see Database.write). The end of a message that is gone changes nothing."""
    run_many(
        connection,
        f"UPDATE messages SET content = {WHOLE_TEXT} || ?, status = ?, provider = ?, model = ?, stats = ?, error = ? WHERE id = ?",
        [
            (end.tail, end.status, end.provider, end.model, json_or_none(end.stats), json_or_none(end.error), end.message_id)
            for end in ends
        ],
    )
    run_many(connection, "DELETE FROM answer_parts WHERE message_id = ?", [(end.message_id,) for end in ends])


def fold_parts(db, condition):
    """Append their parts to the content of the messages that satisfy `condition` (SQL on messages), and delete the
    parts: the text of answers whose writer is gone."""
    db.execute(f"UPDATE messages SET content = {WHOLE_TEXT} WHERE ({condition}) AND id IN (SELECT message_id FROM answer_parts)")
    db.execute(f"DELETE FROM answer_parts WHERE message_id IN (SELECT id FROM messages WHERE {condition})")


def recover(db):
    """Answers that were streaming when the last process died stay, with all the text they had written, marked
    interrupted (see serving: only when no other process is writing any)."""
    with transaction(db):
        fold_parts(db, "status = 'streaming'")
        db.execute("UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'")
