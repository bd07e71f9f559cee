"""Upstream response bodies read as lines: bytes to text lines (JSON lines), and text lines to server-sent events."""
import codecs
import re

LINE_BREAK = re.compile(r"\r\n|\r|\n")
# A line is held in memory until its end arrives; an upstream that never ends one must not exhaust memory.
MAX_LINE = 1024 * 1024


class LineTooLong(ValueError):
    """A line went on past MAX_LINE characters without its end."""


def text_lines(chunks, max_line=MAX_LINE):
    """Yield each complete line as soon as it arrives, decoding UTF-8 across chunk boundaries; a line may be at most
    `max_line` characters long."""
    # One bad byte costs one replacement character, not the whole answer.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    for chunk in chunks:
        text = pending + decoder.decode(chunk)
        # A trailing "\r" may be the first half of "\r\n": keep it until the next chunk says.
        cut = len(text) - 1 if text.endswith("\r") else len(text)
        *lines, rest = LINE_BREAK.split(text[:cut])
        pending = rest + text[cut:]
        if len(pending) > max_line:
            raise LineTooLong(f"a line longer than {max_line} characters")
        yield from lines
    # A last line without its line break is a fragment of a cut stream, not a line.
    *lines, _ = LINE_BREAK.split(pending + decoder.decode(b"", final=True))
    yield from lines


def sse_data(lines):
    """Yield the data of each server-sent event; comments, other fields and empty events are skipped."""
    data = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    # An event without its closing blank line was cut off; the spec says to drop it.
