"""Full-text search, and the few other pieces of SQL that SQLite and PostgreSQL each write their own way, in one place.

The pieces that Core can express are Core constructs compiled for each database (TextBytes, JsonValues, Upserts);
the search conditions are each database's own SQL text.

SQLite searches with FTS5 (the tables message_search, title_search and part_search, kept by triggers); PostgreSQL with
its own full-text search on GIN expression indexes (revisions 0001 to 0003), in the configuration webui_search: words
as they are, lower-cased, in any language, their accents taken off as FTS5's remove_diacritics does (PostgreSQL's
unaccent also reads ё as е, which FTS5 does not). Both find a conversation whose title, or one of whose messages (a
streaming answer's parts too), holds every word of the query as the beginning of a word. The user's words are always data: each
is quoted, so no punctuation of theirs becomes query syntax.
"""
import importlib
import json
import re

from sqlalchemy import Integer, Text, bindparam, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

MAX_SEARCH_TERMS = 16

# Conditions on conversations, with one parameter, `terms`.
FTS5_MATCH = text(
    "(seq IN (SELECT rowid FROM title_search WHERE title_search MATCH :terms)"
    " OR id IN (SELECT m.conversation_id FROM message_search s JOIN messages m ON m.seq = s.rowid"
    " WHERE message_search MATCH :terms)"
    " OR id IN (SELECT m.conversation_id FROM part_search s JOIN answer_parts p ON p.seq = s.rowid"
    " JOIN messages m ON m.id = p.message_id WHERE part_search MATCH :terms))"
)
# The expressions are exactly those the GIN indexes are made on (revisions 0002 and 0003), so that the indexes answer:
# a message's first 100,000 characters (a tsvector holds at most 1 MB), a title, a part's with the word cut before it.
POSTGRES_MATCH = text(
    "(to_tsvector('webui_search', title) @@ to_tsquery('webui_search', :terms)"
    " OR id IN (SELECT m.conversation_id FROM messages m"
    " WHERE to_tsvector('webui_search', left(m.content, 100000)) @@ to_tsquery('webui_search', :terms))"
    " OR id IN (SELECT m.conversation_id FROM answer_parts p JOIN messages m ON m.id = p.message_id"
    " WHERE to_tsvector('webui_search', left(p.lead || p.text, 100000)) @@ to_tsquery('webui_search', :terms)))"
)


def search_terms(query):
    """The words of a query worth looking for: those with a letter or digit, at most MAX_SEARCH_TERMS."""
    # FTS5 reads its query as a C string, which a NUL would end inside a quoted term; to both tokenizers it separates.
    return [term for term in query.replace("\0", " ").split() if re.search(r"\w", term)][:MAX_SEARCH_TERMS]


def fts5_expression(terms):
    """An FTS5 query that finds every term as a prefix, whatever punctuation the terms contain."""
    return " ".join('"' + term.replace('"', '""') + '"*' for term in terms)


def tsquery_expression(terms):
    """A to_tsquery() text that finds every term as a prefix: each one a quoted phrase (PostgreSQL's parser splits it
    into words as it splits the text it indexed) with `:*`, all joined by `&`. Inside the quotes only a quote and a
    backslash mean anything, and both are escaped."""
    return " & ".join("'" + term.replace("\\", "\\\\").replace("'", "''") + "':*" for term in terms)


def match_condition(db, query):
    """(the condition on conversations that keeps those matching `query`, the value of its parameter `terms`); None
    when the query has no word to look for."""
    terms = search_terms(query)
    if not terms:
        return None
    if db.sqlite:
        return FTS5_MATCH, fts5_expression(terms)
    return POSTGRES_MATCH, tsquery_expression(terms)


class PerDatabase(FunctionElement):
    """A function of one argument that each database writes its own way: `templates`, by dialect name, of the SQL
    around the argument."""

    inherit_cache = True
    templates = {}


@compiles(PerDatabase)
def per_database(element, compiler, **kw):
    """The SQL of a PerDatabase for the database it is compiled for."""
    return element.templates[compiler.dialect.name].format(compiler.process(element.clauses, **kw))


class TextBytes(PerDatabase):
    """How many bytes the text of a column takes in UTF-8."""

    type = Integer()
    inherit_cache = True
    templates = {"sqlite": "length(CAST({} AS BLOB))", "postgresql": "octet_length({})"}


class JsonValues(PerDatabase):
    """The values of a JSON list given as one parameter: with .table_valued("value"), a table of one column (SQLite's
    json_each and PostgreSQL's json_array_elements_text both name it so), so that a statement takes any number of
    values and is compiled once."""

    inherit_cache = True
    templates = {"sqlite": "json_each({})", "postgresql": "json_array_elements_text(CAST({} AS json))"}


def listed(name):
    """The table of the values of the JSON list given as the parameter `name` (see json_list): its column `value`."""
    return JsonValues(bindparam(name, type_=Text)).table_valued("value")


def json_list(values):
    """A list as one JSON parameter, for listed(): any number of values in one statement."""
    return json.dumps(list(values))


class Upserts(dict):
    """Per database name, the statement that inserts `values` (column -> bindparam) into `table`, or, when the row
    whose `keys` they name is there, updates its other columns: each database has its own INSERT for it. Each is made
    at its first use, so a process imports its own database's dialect alone (PostgreSQL's is megabytes)."""

    def __init__(self, table, keys, values):
        """Nothing made yet."""
        super().__init__()
        self.table, self.keys, self.values = table, keys, values

    def __missing__(self, name):
        """Make the statement for the database called `name` ("sqlite", "postgresql"); making it twice is harmless."""
        insert = importlib.import_module(f"sqlalchemy.dialects.{name}").insert
        statement = insert(self.table).values(self.values)
        changed = {column: statement.excluded[column] for column in self.values if column not in self.keys}
        self[name] = statement.on_conflict_do_update(index_elements=list(self.keys), set_=changed)
        return self[name]
