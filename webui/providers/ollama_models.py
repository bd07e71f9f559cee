"""An Ollama server's own models: their names, their list, a pull's progress lines, and its failures put into words."""
import json
import re
import time
from datetime import datetime, timezone

from flask_babel import gettext as _

from ..storage.conversations import iso
from .failures import MESSAGES, Failure, error_message

# Ollama's model names (its types/model/name.go): [[host/]namespace/]model[:tag], every part starting with a letter, a
# digit or "_"; a host may hold "." and ":" (its port), a model and a tag ".", a namespace neither. So no part is ".."
# and no name holds a space, "%", "?" or "#": one is safe in a URL path and in a JSON body.
HOST = r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}"
NAMESPACE = r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}"
MODEL = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"
TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"
NAME = re.compile(rf"(?:(?:{HOST}/)?{NAMESPACE}/)?{MODEL}(?::{TAG})?")
# A pull's lines are small objects ({"status", "digest", "total", "completed"}); an error line is one sentence.
MAX_PULL_LINE = 64 * 1024
# Text an Ollama server writes into its list and progress (a family, a status) is shown at most this long.
MAX_TEXT = 200
# How Ollama says a model is not in the library (its registry's 404 for the manifest), and that its disk is full.
NOT_IN_LIBRARY = re.compile(r"file does not exist|manifest unknown|not found", re.I)
NO_SPACE = re.compile(r"no space left|not enough (disk )?space|insufficient (disk )?space|disk (is )?full", re.I)

PULL_MESSAGES = {
    **MESSAGES,
    "unknown_model": lambda p: _(
        "%(name)s found no model called “%(model)s” to download: check its name in the Ollama library "
        "(ollama.com/library).",
        **p,
    ),
    "no_space": lambda p: _(
        "%(name)s has no space left on its disk for “%(model)s”: delete a model there or free some space, then pull it "
        "again.",
        **p,
    ),
    "interrupted": lambda p: _(
        "The connection to %(name)s was lost before “%(model)s” was downloaded: is the server still running? Pulling "
        "it again goes on where it stopped.",
        **p,
    ),
    "timeout": lambda p: _("%(name)s sent nothing for %(seconds)s s while downloading “%(model)s”, so it was stopped.", **p),
    "upstream_error": lambda p: _("%(name)s could not download “%(model)s”: %(detail)s", **p),
}
DELETE_MESSAGES = {
    **MESSAGES,
    "unknown_model": lambda p: _("%(name)s has no model called “%(model)s”: it may have been deleted already.", **p),
}


def valid_name(name):
    """Whether `name` is a model name Ollama takes, like "qwen2.5:0.5b" or "hf.co/namespace/model:tag"."""
    return isinstance(name, str) and NAME.fullmatch(name) is not None


def count(value):
    """A number of bytes as Ollama gives it, or None when it gives none."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def text(value):
    """A short text as Ollama gives it, or None when it gives none."""
    return value[:MAX_TEXT] if isinstance(value, str) and value else None


def moment(value):
    """An RFC 3339 time of Ollama's (local, in nanoseconds) as the API writes times; None when it is not one."""
    try:
        when = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return iso((when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp())


def installed(data):
    """The models of an /api/tags answer, in its order (the last changed first), as the page shows them."""
    listing = data.get("models")
    if not isinstance(listing, list):
        raise Failure("bad_stream", detail=json.dumps(data))
    models = []
    for model in listing:
        if not (isinstance(model, dict) and valid_name(model.get("name"))):
            continue
        details = model.get("details") if isinstance(model.get("details"), dict) else {}
        models.append(
            {
                "name": model["name"],
                "size": count(model.get("size")),
                "family": text(details.get("family")),
                "parameter_size": text(details.get("parameter_size")),
                "quantization": text(details.get("quantization_level")),
                "modified_at": moment(model.get("modified_at")),
            }
        )
    return models


def pull_failure(message):
    """The Failure an error line of a pull stands for."""
    if NO_SPACE.search(message):
        return Failure("no_space", detail=message)
    if NOT_IN_LIBRARY.search(message):
        return Failure("unknown_model", detail=message)
    return Failure("upstream_error", detail=message)


def progress(event):
    """What one line of a pull says, as {"status", "completed", "total"} (bytes of the layer being fetched, when it
    says); None for its last line, "success". A line with an error fails the pull."""
    if event.get("error"):
        raise pull_failure(error_message(event))
    if event.get("status") == "success":
        return None
    return {"status": text(event.get("status")) or "", "completed": count(event.get("completed")), "total": count(event.get("total"))}


def paced(chunks, seconds):
    """The chunks of a stream, as long as each line ends within `seconds` of the end of the one before: a read that
    waits that long fails by itself, and this stops a server that trickles a line out a few bytes at a time."""
    line_began = time.monotonic()
    for chunk in chunks:
        now = time.monotonic()
        if now - line_began > seconds:
            raise Failure("timeout", seconds=f"{seconds:g}")
        if b"\n" in chunk:
            line_began = now
        yield chunk
