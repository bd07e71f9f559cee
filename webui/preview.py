"""The newest messages of a conversation as HTML in its page: readable before the page's scripts have loaded.

The page's scripts render every message again as they start (static/markdown.js, with highlighting and math),
replacing these; until then a long conversation shows its end at once, even on a slow phone or without scripts.
"""
from functools import cache

from markdown_it import MarkdownIt
from markupsafe import Markup

# Enough of the newest messages to fill a tall window, and no more: the page renders them all again.
MAX_MESSAGES = 8
MAX_CHARS = 6000


@cache
def parser():
    """markdown-it set up as the page's is: its default rules, raw HTML shown as text, bare URLs made links."""
    # Raw HTML off is what makes the output safe to put in the page: markdown-it then escapes every tag and
    # refuses javascript:, vbscript:, file: and data: links (bar images), as the page's own renderer does.
    return MarkdownIt("js-default", {"html": False, "linkify": True})


def newest(messages):
    """The last messages, oldest first, up to MAX_MESSAGES or MAX_CHARS (the last one always): role and html."""
    chosen, chars = [], 0
    for message in reversed(messages):
        if chosen and (len(chosen) == MAX_MESSAGES or chars + len(message["content"]) > MAX_CHARS):
            break
        chosen.append(message)
        chars += len(message["content"])
    return [{"role": m["role"], "html": html_of(m)} for m in reversed(chosen)]


def html_of(message):
    """An answer's Markdown as HTML; anything else is its text, which the template escapes."""
    if message["role"] == "assistant":
        return Markup(parser().render(message["content"]))
    return message["content"]
