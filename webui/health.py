"""Health check: a one-line prompt to each provider, timed the way the page would see it; POST /api/check."""
import time

from flask import Blueprint, abort, current_app, jsonify, request
from flask_babel import gettext as _

from .access.security import count_request
from .chat.answer import Answer, Cursor
from .chat.chat_request import ChatRequest
from .chat.runner import get_runner
from .chat.writer import PullWriter
from .json_input import json_body
from .errors import UserError, bad_request, failure_message
from .providers.registry import get_registry, resolve

PROMPT = "Reply with one short sentence."
MAX_TOKENS = 8

bp = Blueprint("health", __name__)


def probe(registry, name, clock=time.monotonic):
    """Ask one provider the prompt through the same run loop a chat uses (chat/runner.py) and measure the answer."""
    result = {
        "provider": name,
        "model": None,
        "via": None,
        "ok": False,
        "error": None,
        "ttft_ms": None,
        "chunks": 0,
        "chunks_per_s": None,
        "duration_ms": None,
    }
    chat = ChatRequest("check", name, None, [{"role": "user", "content": PROMPT}], {"max_tokens": MAX_TOKENS})
    try:
        provider, result["model"] = resolve(chat, registry)
    except UserError as e:
        result["error"] = {"code": e.code, "message": e.message}
        return result
    except Exception as e:  # a broken drop-in must not stop the other checks
        result["error"] = {"code": "provider_error", "message": failure_message(e)}
        return result
    cursor = Cursor(PullWriter(), chat.request_id)
    answer = Answer(cursor, provider.name, result["model"], clock=clock)
    get_runner().run(answer, provider, result["model"], chat.messages, chat.options)
    frames = cursor.take(float("inf"))[0]
    start, final = frames[0], frames[-1]
    if (start["provider"], start["model"]) != (provider.name, result["model"]):
        result["via"] = {"provider": start["provider"], "model": start["model"]}
    if final["type"] == "error":
        result["error"] = {"code": final["code"], "message": final["message"]}
    stats = answer.stats()
    result.update(ok=final["type"] == "done", chunks=stats["chunks"])
    result.update(ttft_ms=stats["ttft_ms"], duration_ms=stats["duration_ms"])
    # The rate after the first chunk: the time to the first one is reported on its own.
    streaming_s = (stats["duration_ms"] - (stats["ttft_ms"] or 0)) / 1000
    if stats["chunks"] > 1 and streaming_s > 0:
        result["chunks_per_s"] = round((stats["chunks"] - 1) / streaming_s, 1)
    return result


def check_providers(names=None):
    """Probe the named providers of the current app (all when None), one at a time so timings stay undisturbed.

    Each provider is probed once however often it is named: a request never fans out beyond the providers known.
    """
    registry = get_registry()
    names = [provider.name for provider in registry] if names is None else list(dict.fromkeys(names))
    for name in names:
        registry.get(name)
    return [probe(registry, name) for name in names]


def summary(result):
    """One line of the CLI's report."""
    if not result["ok"]:
        return _("%(provider)s: FAILED (%(code)s): %(message)s", provider=result["provider"], **result["error"])
    via = result["via"]
    return _(
        "%(provider)s: ok (%(model)s), first chunk after %(ttft)s ms, %(chunks)d chunks, %(rate)s chunks/s",
        provider=result["provider"],
        model=f"{result['model']} → {via['provider']}/{via['model']}" if via else result["model"],
        ttft="–" if result["ttft_ms"] is None else f"{result['ttft_ms']:.0f}",
        chunks=result["chunks"],
        rate="–" if result["chunks_per_s"] is None else result["chunks_per_s"],
    )


@bp.post("/api/check")
def check():
    """Check every provider, or those in {"providers": [...]}; JSON only, so a form on another site cannot trigger it."""
    if not request.is_json:
        abort(415)
    body = json_body(current_app.config["WEBUI_MAX_REQUEST_BYTES"])
    if not isinstance(body, dict):
        raise bad_request(_("The request must be a JSON object."))
    names = body.get("providers")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise bad_request(_("“providers” must be a list of provider names."))
    count_request()
    results = check_providers(names)
    return jsonify(prompt=PROMPT, max_tokens=MAX_TOKENS, results=results)
