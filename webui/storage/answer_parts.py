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

from sqlalchemy import and_, bindparam, delete, func, insert, select, true, update

from .database import transaction
from .statements import run_many, run_statement
from .schema import answer_parts, messages, stored_messages

# The longest unfinished word carried in front of the next part in the search index, so that a word a write cut in
# two is found whole while the answer streams; a longer one is found by its pieces until the answer ends.
LEAD_CHARS = 64
UNFINISHED_WORD = re.compile(r"\S*\Z")
# A message's whole text as the view gives it, inside a statement that changes the messages table.
WHOLE_TEXT = select(stored_messages.c.content).where(stored_messages.c.id == messages.c.id).scalar_subquery()
# The statements of the saver's rounds, compiled once per database: each runs once for many messages.
BY_ID = messages.c.id == bindparam("message_id")
NOTE = update(messages).where(BY_ID).values(
    provider=bindparam("new_provider"), model=bindparam("new_model"), stats=bindparam("new_stats")
)
EXISTS = select(func.count()).select_from(messages).where(BY_ID)
APPEND = insert(answer_parts).inline().values(
    message_id=bindparam("message_id"), text=bindparam("part"), lead=bindparam("part_lead")
)
END = update(messages).where(BY_ID).values(
    content=WHOLE_TEXT + bindparam("tail"), status=bindparam("new_status"), provider=bindparam("new_provider"),
    model=bindparam("new_model"), stats=bindparam("new_stats"), error=bindparam("new_error"),
)
DROP_PARTS = delete(answer_parts).where(answer_parts.c.message_id == bindparam("message_id"))


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
    changed = run_many(connection, NOTE, [
        {"message_id": part.message_id, "new_provider": part.provider, "new_model": part.model,
         "new_stats": json_or_none(part.stats)}
        for part in parts
    ])
    gone = set()
    if changed < len(parts):
        gone = {
            part.message_id for part in parts
            if not run_statement(connection, EXISTS, {"message_id": part.message_id})[0][0][0]
        }
    run_many(connection, APPEND, [
        {"message_id": part.message_id, "part": part.text, "part_lead": part.lead}
        for part in parts if part.text and part.message_id not in gone
    ])
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
    run_many(connection, END, [
        {"message_id": end.message_id, "tail": end.tail, "new_status": end.status, "new_provider": end.provider,
         "new_model": end.model, "new_stats": json_or_none(end.stats), "new_error": json_or_none(end.error)}
        for end in ends
    ])
    run_many(connection, DROP_PARTS, [{"message_id": end.message_id} for end in ends])


def interrupting(condition):
    """The statements that mark the streaming answers that satisfy `condition` (a Core condition on messages)
    interrupted, with their parts appended to their content (see interrupt); built once for each condition."""
    chosen = and_(messages.c.status == "streaming", condition)
    with_parts = messages.c.id.in_(select(answer_parts.c.message_id))
    return (
        update(messages).where(chosen, with_parts).values(content=WHOLE_TEXT),
        delete(answer_parts).where(answer_parts.c.message_id.in_(select(messages.c.id).where(chosen))),
        update(messages).where(chosen).values(status="interrupted"),
    )


RECOVERING = interrupting(true())


def interrupt(db, statements, params):
    """Run the `statements` of interrupting() with the parameters of their condition in one transaction: the text of
    answers whose writer is gone is kept."""
    with transaction(db):
        for statement in statements:
            db.execute(statement, params)


def recover(db):
    """Answers that were streaming when the last process died stay, with all the text they had written, marked
    interrupted (see serving: only when no other process is writing any)."""
    interrupt(db, RECOVERING, {})
