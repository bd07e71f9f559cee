"""PostgreSQL's search folds accents, as SQLite's FTS5 does (remove_diacritics): "cafe" finds "café" and the other way.

revision: 0002
"""
import logging

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

# The search indexes of revision 0001, and the expressions they are made on (search.py queries the same ones).
INDEXES = {
    "message_search": ("messages", "left(content, 100000)"),
    "title_search": ("conversations", "title"),
    "part_search": ("answer_parts", "lead || text"),
}
# The parser's token types that may hold letters with accents (ASCII words hold none).
ACCENTED_TOKENS = "word, hword, hword_part, numword, numhword, hword_numpart"


def made_unaccent(connection):
    """Make the unaccent extension (a trusted one: the database's owner may) unless it is there; False when this
    database does not allow it, which leaves search as it was, and says so once."""
    connection.exec_driver_sql("SAVEPOINT unaccent")
    try:
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
    except Exception as error:  # the extension is not installed, or this user may not make it
        connection.exec_driver_sql("ROLLBACK TO SAVEPOINT unaccent")
        log.warning("search will not fold accents: PostgreSQL's unaccent extension could not be made (%s)", error)
        return False
    connection.exec_driver_sql("RELEASE SAVEPOINT unaccent")
    return True


def reindex(connection, configuration):
    """Make the search indexes again on the text search `configuration`."""
    for name, (table, expression) in INDEXES.items():
        connection.exec_driver_sql(f"DROP INDEX {name}")
        connection.exec_driver_sql(f"CREATE INDEX {name} ON {table} USING gin (to_tsvector('{configuration}', {expression}))")


def upgrade():
    """PostgreSQL: the configuration webui_search, 'simple' with accents taken off first, and the indexes on it."""
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    connection.exec_driver_sql("CREATE TEXT SEARCH CONFIGURATION webui_search (COPY = simple)")
    if made_unaccent(connection):
        connection.exec_driver_sql(f"ALTER TEXT SEARCH CONFIGURATION webui_search ALTER MAPPING FOR {ACCENTED_TOKENS} WITH unaccent, simple")
    reindex(connection, "webui_search")


def downgrade():
    """The indexes on 'simple' again; the extension stays, as other software may use it."""
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    reindex(connection, "simple")
    connection.exec_driver_sql("DROP TEXT SEARCH CONFIGURATION webui_search")
