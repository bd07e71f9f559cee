"""PostgreSQL indexes a streaming answer's part as it does a message: its first 100,000 characters.

A tsvector holds at most 1 MB: a part of about a million characters of short distinct words (a list of ids, a saver
catching up after an outage) could not be indexed, so its write failed at every round and the text shown was not
stored until the answer ended.

revision: 0003
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def index_parts(expression):
    """Make the parts' search index again, on `expression` (search.py queries the same one)."""
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    connection.exec_driver_sql("DROP INDEX part_search")
    connection.exec_driver_sql(f"CREATE INDEX part_search ON answer_parts USING gin (to_tsvector('webui_search', {expression}))")


def upgrade():
    """The index on the first 100,000 characters of a part (its lead included)."""
    index_parts("left(lead || text, 100000)")


def downgrade():
    """The index on the whole part, as revision 0002 made it."""
    index_parts("lead || text")
