"""Full-text search, and the few other pieces of SQL that SQLite and PostgreSQL each write their own way, in one place.

SQLite searches with FTS5 (the tables message_search, title_search and part_search, kept by triggers); PostgreSQL with
its own full-text search on GIN expression indexes (revisions 0001 and 0002), in the configuration webui_search: words
as they are, lower-cased, in any language, their accents taken off as FTS5's remove_diacritics does (PostgreSQL's
unaccent also reads ё as е, which FTS5 does not). Both find a conversation whose title, or one of whose messages (a streaming
answer's parts too), holds every word of the query as the beginning of a word. The user's words are always data: each
is quoted, so no punctuation of theirs becomes query syntax.
"""
import re

MAX_SEARCH_TERMS = 16

FTS5_MATCH = (
    "(seq IN (SELECT rowid FROM title_search WHERE title_search MATCH ?)"
    " OR id IN (SELECT m.conversation_id FROM message_search s JOIN messages m ON m.seq = s.rowid"
    " WHERE message_search MATCH ?)"
    " OR id IN (SELECT m.conversation_id FROM part_search s JOIN answer_parts p ON p.seq = s.rowid"
    " JOIN messages m ON m.id = p.message_id WHERE part_search MATCH ?))"
)
# The expressions are exactly those the GIN indexes are made on (revision 0002), so that the indexes answer: a
# message's first 100,000 characters (a tsvector holds at most 1 MB), a title, a part with the word cut before it.
POSTGRES_MATCH = (
    "(to_tsvector('webui_search', title) @@ to_tsquery('webui_search', ?)"
    " OR id IN (SELECT m.conversation_id FROM messages m"
    " WHERE to_tsvector('webui_search', left(m.content, 100000)) @@ to_tsquery('webui_search', ?))"
    " OR id IN (SELECT m.conversation_id FROM answer_parts p JOIN messages m ON m.id = p.message_id"
    " WHERE to_tsvector('webui_search', p.lead || p.text) @@ to_tsquery('webui_search', ?)))"
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
    """(SQL condition on conversations, its parameters) that keeps those matching `query`; None when the query has no
    word to look for."""
    terms = search_terms(query)
    if not terms:
        return None
    if db.sqlite:
        return FTS5_MATCH, [fts5_expression(terms)] * 3
    return POSTGRES_MATCH, [tsquery_expression(terms)] * 3


def text_bytes(db, column):
    """SQL for how many bytes the text of `column` takes in UTF-8."""
    return f"length(CAST({column} AS BLOB))" if db.sqlite else f"octet_length({column})"


def listed_values(db):
    """SQL for a subquery of the values of a JSON list given as one parameter: any number of them in one statement."""
    return "SELECT value FROM json_each(?)" if db.sqlite else "SELECT value FROM json_array_elements_text(CAST(? AS json)) AS t (value)"
