"""Reading an image or a PDF in a child process of its own, killed at its deadline.

Parsing them in Python holds the interpreter, and a hostile file may be slow or hungry, so the server's own process
never parses one.

A job costs a fresh interpreter (about 0.05 s to import Pillow, 0.1 s for pypdf on the development machine) on top of
the reading itself. The child has no state to leak from one person's file into another's, and dies with its job.
Under gevent the parent waits as a greenlet (subprocess is patched): other requests go on meanwhile. At most as many
jobs as the machine has cores run at once; the others wait their turn, at most WEBUI_ATTACHMENT_SECONDS (then `busy`),
and each job has that long again once it runs.
"""
import importlib.util
import json
import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from flask import current_app
from flask_babel import format_number
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..cooperative import in_native_thread
from ..errors import UserError
from . import files
from .recent import Recent

log = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("worker.py")
SLOTS = "webui.attachment_jobs"
RECENT = "webui.attachment_readings"
# What of the child's standard error is logged when it fails without an answer.
MAX_LOGGED_ERROR = 2000


@dataclass
class Reading:
    """What the child found: the image's re-encoding and thumbnail, or the PDF's text and pages."""

    media_type: str = None
    width: int = None
    height: int = None
    pages: int = None
    parts: list = field(default_factory=list)


# A child's refusals in the person's words; any other (or no whole answer) means the file is damaged.
REFUSALS = {
    "pixels": _l("“%(name)s” has more than %(megapixels)s megapixels, the most this server reads in an image."),
    "pages": _l("“%(name)s” has %(pages)s pages; this server reads PDFs of at most %(limit)s pages."),
    "chars": _l("“%(name)s” has more than %(chars)s characters of text, the most one file may bring."),
    "encrypted": _l("“%(name)s” is protected by a password: save a copy without the password and attach that."),
    "no_text": _l("“%(name)s” has no text to read: its pages may be scanned images. Attach them as images instead."),
    "memory": _l("“%(name)s” needs more memory to read than this server gives one file."),
    "converted_too_large": _l("“%(name)s” is too large once converted to PNG: save it as a JPEG and attach it again."),
    "damaged": _l("“%(name)s” is damaged or incomplete, so it cannot be read."),
}


def refusal(name, answer, config):
    """The refusal of a file for the child's answer `answer` ({"error": code, ...}), in the person's words."""
    numbers = {
        "name": name,
        "megapixels": format_number(config["WEBUI_MAX_IMAGE_PIXELS"] // 1_000_000),
        "pages": format_number(answer.get("pages", 0)),
        "limit": format_number(config["WEBUI_MAX_PDF_PAGES"]),
        "chars": format_number(config["WEBUI_MAX_ATTACHMENT_CHARS"]),
    }
    return UserError(str(REFUSALS.get(answer.get("error"), REFUSALS["damaged"])) % numbers, code="bad_attachment")


@cache
def library_paths():
    """Where this process finds Pillow and pypdf, found without importing them: the child, which ignores PYTHONPATH
    (python -I), looks there too."""
    paths = []
    for name in ("PIL", "pypdf"):
        spec = importlib.util.find_spec(name)
        if spec and spec.submodule_search_locations:
            paths.append(str(Path(list(spec.submodule_search_locations)[0]).parent))
    return list(dict.fromkeys(paths))


def in_child(payload, seconds):
    """(exit status, standard output, standard error) of the worker given `payload`, or None when it was not done
    within `seconds`: it is killed then, and whatever happens to the caller, it never outlives this call."""
    child = subprocess.Popen(
        [sys.executable, "-I", str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = child.communicate(payload, timeout=max(0.0, seconds))
    except subprocess.TimeoutExpired:
        return None
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    return child.returncode, out, err


def parse(output):
    """The child's answer line and its parts; None when a signal ended it before it answered in whole (the kernel
    stopped it, or its file crashed a decoder: the file is taken for damaged)."""
    status, out, err = output
    line, _newline, rest = out.partition(b"\n")
    try:
        answer = json.loads(line)
        sizes = answer.pop("parts")
        assert sum(sizes) == len(rest)
    except (ValueError, KeyError, TypeError, AssertionError):
        if status > 0:
            # It ended itself without answering: not the file but this installation is broken (Pillow missing).
            raise RuntimeError(f"the attachment worker failed: {err[-MAX_LOGGED_ERROR:].decode(errors='replace')}") from None
        log.warning("an attachment worker ended with status %s and no answer: %s", status, err[-MAX_LOGGED_ERROR:])
        return None
    parts, start = [], 0
    for size in sizes:
        parts.append(rest[start : start + size])
        start += size
    return answer, parts


def read(kind, name, data, side=None):
    """Read an image ("image") or a PDF ("pdf"), or make a stored image fit in `side` pixels ("scale"), in a child
    process within WEBUI_ATTACHMENT_SECONDS: a Reading, or a UserError that says why the file cannot be used (or that
    the server is too busy to read it now)."""
    config = current_app.config
    seconds = config["WEBUI_ATTACHMENT_SECONDS"]
    limits = {
        "pixels": config["WEBUI_MAX_IMAGE_PIXELS"],
        "bytes": config["WEBUI_MAX_UPLOAD_BYTES"],
        "pages": config["WEBUI_MAX_PDF_PAGES"],
        "chars": config["WEBUI_MAX_ATTACHMENT_CHARS"],
        "side": side,
    }
    key = (kind, json.dumps(limits, sort_keys=True), in_native_thread(files.digest, data))
    recent = current_app.extensions[RECENT]
    if (reading := recent.get(key)) is not None:
        return reading
    payload = json.dumps({"kind": kind, "limits": limits, "path": library_paths()}).encode() + b"\n" + data
    slots = current_app.extensions[SLOTS]
    if not slots.acquire(timeout=seconds):
        raise UserError(_("The server is busy reading other files: try again in a moment."), code="busy")
    try:
        # The file's own time starts once a reader is free: a wait for one is the server's load, not the file's fault.
        output = in_child(payload, seconds)
    finally:
        slots.release()
    if output is None:
        message = _("“%(name)s” took longer than %(seconds)s seconds to read, so the server gave up on it.")
        raise UserError(message % {"name": name, "seconds": format_number(seconds)}, code="bad_attachment")
    answer = parse(output)
    if answer is None:
        raise refusal(name, {}, config)
    result, parts = answer
    if not result.pop("ok", False):
        raise refusal(name, result, config)
    reading = Reading(**{item: result.get(item) for item in ("media_type", "width", "height", "pages")}, parts=parts)
    recent.put(key, reading)
    return reading


def init_app(app):
    """The turns jobs take (as many at once as there are cores), and the readings kept (recent.py)."""
    app.extensions[SLOTS] = threading.BoundedSemaphore(os.cpu_count() or 1)
    app.extensions[RECENT] = Recent()
