"""The newest messages of a conversation as HTML in its page: readable before the page's scripts have loaded.

The page's scripts render every message again as they start (static/markdown.js, with highlighting and math),
replacing these; until then a long conversation shows its end at once, even on a slow phone or without scripts.
"""
from functools import cache

from markdown_it import MarkdownIt
from markupsafe import Markup

from .cooperative import within

# Enough of the newest messages to fill a tall window, and no more: the page renders them all again.
MAX_MESSAGES = 8
# Also the most Markdown the server renders for one page: markdown-it's cost grows faster than its input
# (linkify on "http://a" repeated: 6,000 characters take 0.1 s, 80,000 take 17 s).
MAX_CHARS = 6000
# Past this, the page gets the messages as text: a page view never waits longer for its preview.
RENDER_SECONDS = 0.5
ELLIPSIS = "…"


@cache
def parser():
    """markdown-it set up as the page's is: its default rules, raw HTML shown as text, bare URLs made links."""
    # Raw HTML off is what makes the output safe to put in the page: markdown-it then escapes every tag and
    # refuses javascript:, vbscript:, file: and data: links (bar images), as the page's own renderer does.
    return MarkdownIt("js-default", {"html": False, "linkify": True})


def newest(messages, seconds=RENDER_SECONDS):
    """The last messages, oldest first, up to MAX_MESSAGES or MAX_CHARS (the last one always): role, html, raw.

    Answers are Markdown rendered in a native thread within `seconds`; when that cannot be (a last message longer
    than MAX_CHARS, or a render past its time) every message is its text, `raw`, cut to its last MAX_CHARS.
    """
    chosen, chars = [], 0
    for message in reversed(messages):
        if chosen and (len(chosen) == MAX_MESSAGES or chars + len(message["content"]) > MAX_CHARS):
            break
        chosen.append(message)
        chars += len(message["content"])
    chosen.reverse()
    htmls = within(seconds, render, chosen) if chars <= MAX_CHARS else None
    if htmls is None:
        return [{"role": m["role"], "html": tail(m["content"]), "raw": m["role"] == "assistant"} for m in chosen]
    return [{"role": m["role"], "html": html, "raw": False} for m, html in zip(chosen, htmls)]


def render(messages):
    """Each message's HTML: an answer's Markdown rendered; anything else is its text, which the template escapes."""
    return [Markup(parser().render(m["content"])) if m["role"] == "assistant" else m["content"] for m in messages]


def tail(text):
    """The end of a text, at most MAX_CHARS characters of it: where the page opens."""
    return text if len(text) <= MAX_CHARS else ELLIPSIS + text[-(MAX_CHARS - len(ELLIPSIS)):]
