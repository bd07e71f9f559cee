"""The app's queries are SQLAlchemy Core expressions: SQL text only where Core cannot say it, each in its one place."""
import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "webui"
# Where SQL text stays: SQLite's legacy upgrade steps, Alembic's revisions (DDL, triggers), and the full-text search
# conditions, each database's own.
SQL_PLACES = ("storage/migrations.py", "storage/alembic/", "storage/search.py")
# A statement that reads or writes rows (not a PRAGMA, a transaction's control or a connection's ping).
STATEMENT = re.compile(r"\s*(SELECT\b.*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|WITH\s+RECURSIVE)\b", re.S)


def sql_texts():
    """(module, line) of each string constant outside SQL_PLACES that opens with a statement on rows."""
    for path in sorted(PACKAGE.rglob("*.py")):
        module = str(path.relative_to(PACKAGE))
        if module.startswith(SQL_PLACES):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and STATEMENT.match(node.value):
                yield module, node.lineno


def test_no_query_outside_its_places_is_written_as_sql_text():
    assert list(sql_texts()) == []
