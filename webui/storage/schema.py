"""The database's tables as SQLAlchemy Core sees them, in one MetaData: what Core queries, the copy and the checks use.

The schema itself is made by the migrations (migrations.py on SQLite, the Alembic revisions in alembic/): a change
to a table is a new revision, and the same change here.
"""
from sqlalchemy import Column, Double, ForeignKey, Integer, MetaData, Table, Text, column, table

metadata = MetaData()


def seq():
    """The row's number, in the order rows were written."""
    return Column("seq", Integer, primary_key=True)


def ident():
    """The row's public id."""
    return Column("id", Text, nullable=False, unique=True)


def when(name):
    """A time.time() moment."""
    return Column(name, Double, nullable=False)


users = Table(
    "users", metadata,
    Column("name", Text, primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("token", Text, nullable=False),
    when("created_at"),
    Column("role", Text, nullable=False, server_default="user"),
)
conversations = Table(
    "conversations", metadata,
    seq(), ident(),
    Column("owner", Text, nullable=False),
    Column("title", Text, nullable=False, server_default=""),
    Column("system_prompt", Text, nullable=False, server_default=""),
    Column("options", Text, nullable=False, server_default="{}"),
    Column("provider", Text), Column("model", Text), Column("leaf_id", Text),
    when("created_at"), when("updated_at"),
)
messages = Table(
    "messages", metadata,
    seq(), ident(),
    Column("conversation_id", Text, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("parent_id", Text, ForeignKey("messages.id", ondelete="CASCADE")),
    Column("role", Text, nullable=False),
    Column("content", Text, nullable=False, server_default=""),
    Column("status", Text, nullable=False, server_default="complete"),
    Column("provider", Text), Column("model", Text), Column("stats", Text), Column("error", Text),
    when("created_at"),
)
answer_parts = Table(
    "answer_parts", metadata,
    seq(),
    Column("message_id", Text, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("text", Text, nullable=False),
    Column("lead", Text, nullable=False, server_default=""),
)
# The view of the messages with each one's whole text (see answer_parts): queried, never made or copied from here.
stored_messages = table("stored_messages", *(column(c.name, c.type) for c in messages.columns))
presets = Table(
    "presets", metadata,
    seq(), ident(),
    Column("owner", Text),
    Column("name", Text, nullable=False),
    Column("system_prompt", Text, nullable=False, server_default=""),
    Column("options", Text, nullable=False, server_default="{}"),
    when("created_at"), when("updated_at"),
)
preset_defaults = Table(
    "preset_defaults", metadata,
    Column("owner", Text, primary_key=True),
    Column("preset_id", Text, ForeignKey("presets.id", ondelete="CASCADE"), nullable=False),
)
connections = Table(
    "connections", metadata,
    seq(), ident(),
    Column("name", Text, nullable=False, unique=True),
    Column("type", Text, nullable=False),
    Column("base_url", Text, nullable=False),
    Column("models", Text),
    Column("context_length", Integer),
    # 0, 1 or the JSON text of a list of model names (text on PostgreSQL; SQLite keeps either in any column).
    Column("vision", Text, nullable=False, server_default="0"),
    Column("enabled", Integer, nullable=False, server_default="1"),
    Column("api_key", Text),
    when("created_at"), when("updated_at"),
)
module_keys = Table(
    "module_keys", metadata,
    Column("name", Text, primary_key=True),
    Column("api_key", Text, nullable=False),
    when("updated_at"),
)
attachments = Table(
    "attachments", metadata,
    seq(), ident(),
    Column("owner", Text, nullable=False),
    Column("hash", Text, nullable=False),
    Column("thumbnail_hash", Text),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("media_type", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("text", Text),
    Column("width", Integer), Column("height", Integer), Column("pages", Integer),
    when("created_at"),
)
message_attachments = Table(
    "message_attachments", metadata,
    Column("message_id", Text, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("attachment_id", Text, ForeignKey("attachments.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, primary_key=True),
)
attachment_garbage = Table("attachment_garbage", metadata, Column("hash", Text, primary_key=True))
api_tokens = Table(
    "api_tokens", metadata,
    seq(), ident(),
    Column("owner", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("hash", Text, nullable=False),
    when("created_at"),
    Column("last_used_at", Double),
)
# In the order a copy fills them: each after the tables its rows refer to.
COPIED = [users, conversations, messages, answer_parts, presets, preset_defaults, connections, module_keys,
          attachments, message_attachments, attachment_garbage, api_tokens]
