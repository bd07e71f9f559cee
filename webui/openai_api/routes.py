"""The /v1 endpoints for OpenAI's clients: GET /v1/models and POST /v1/chat/completions.

A request carries a bearer token, never a cookie, and acts as the token's owner, under the owner's limits.
"""
from flask import Blueprint, Response, current_app, g, jsonify, request
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, InternalServerError

from ..access.limits import client_key, client_socket
from ..access.security import API_PREFIX, count_request
from ..chat.answer import Answer, Cursor
from ..chat.chat_request import ChatRequest
from ..chat.context import Budget
from ..chat.runner import get_runner
from ..chat.writer import PullWriter
from ..json_input import json_body
from ..errors import UserError, web_refusal
from ..providers.registry import get_registry, resolve
from ..serving.shutdown import get_shutdown
from . import cors, images, store
from .hangup import LOOK_SECONDS, hung_up
from .shapes import Reply, completion_request, error_response, model_list, model_object, usage, user_error_response
from .stream import EventStream, failure, first_frames, interrupted_message, text_and_final
from .tokens import authenticate

bp = Blueprint("openai_api", __name__, url_prefix=API_PREFIX.rstrip("/"))
# How long a caller refused for running too many answers at once is asked to wait before trying again.
BUSY_RETRY_SECONDS = 1


@bp.before_request
def check_caller():
    """Refuse other sites' pages, answer a browser's preflight, and find whose token the request carries: the request
    then acts as that user (or, without accounts, that browser)."""
    origin = request.headers.get("Origin")
    if origin is not None and not cors.allows(origin):
        message = _("Web pages of other sites may not call this API; an administrator can allow one with WEBUI_API_ALLOWED_ORIGINS.")
        raise UserError(message, code="forbidden_origin")
    if request.method == "OPTIONS":
        return cors.preflight()
    g.api_bearer = bearer = authenticate(request.headers.get("Authorization"))
    if bearer.user:
        g.user = bearer.user
    else:
        g.owner = bearer.owner
    return None


bp.after_request(cors.add_headers)
bp.register_error_handler(UserError, user_error_response)


@bp.errorhandler(HTTPException)
def http_error(error):
    """A refusal of the web layer (404, 405, …) in OpenAI's shape."""
    offered = _("This API has POST /v1/chat/completions, GET /v1/models and GET /v1/models/{model}.")
    return error_response(*web_refusal(error, offered))


@bp.errorhandler(InternalServerError)
def internal_error(error):
    """A failure inside the server, logged with its trace and answered in OpenAI's shape without one (registered for
    its own code, or the app's handler of 500 would answer in the page's)."""
    return error_response("internal_error", _("Something went wrong inside the server; its log has the details."))


def available_models():
    """Every model that can be used now, as "provider/model", with its provider's name."""
    found = {}
    for provider in get_registry().describe()["providers"]:
        if provider["available"]:
            found.update((f"{provider['name']}/{model}", provider["name"]) for model in provider["models"])
    return found


@bp.get("/models")
def models():
    """Every usable model, in OpenAI's list shape."""
    found = available_models()
    return jsonify(model_list(found, found))


@bp.get("/models/<path:model_id>")
def model(model_id):
    """One usable model; 404 for any other id."""
    found = available_models()
    if model_id not in found:
        raise unknown_model(model_id)
    return jsonify(model_object(model_id, found[model_id]))


def unknown_model(model_id):
    """The refusal of a model id that names no usable model."""
    message = _("There is no model “%(model)s”: GET /v1/models lists them, as “provider/model”.", model=model_id[:300])
    return UserError(message, code="unknown_model", param="model")


def resolve_model(model_id):
    """The provider and model an id names: "provider/model", or a provider alone for its default model. A provider's
    name may hold "/" itself: the longest name that the id starts with wins."""
    registry = get_registry()
    names = [p.name for p in registry if model_id == p.name or model_id.startswith(p.name + "/")]
    if not names:
        raise unknown_model(model_id)
    name = max(names, key=len)
    try:
        return resolve(ChatRequest(None, name, model_id[len(name) + 1 :] or None, None, {}), registry)
    except UserError as e:
        if e.code == "unknown_model":
            raise unknown_model(model_id) from None
        raise


def limit_key(bearer):
    """Whose limits a request counts against, as security.request_key says for the page's: a user's own, and without
    accounts those of the caller's address (any program there may make a token of a new browser)."""
    return bearer.owner if bearer.user else client_key()


@bp.post("/chat/completions")
def chat_completions():
    """Answer a chat: one chat.completion object, or its chunks as server-sent events when `stream` is true."""
    get_shutdown().refuse_new_answers()
    # Images come in the body (in base64), so it may be larger than any other request: the json_body limit replaces
    # security's WEBUI_MAX_BODY_BYTES. Decoding a large one holds the process, as an import does; the rate bounds it.
    limit = request.max_content_length = body_limit(current_app.config)
    asked = completion_request(json_body(limit))
    bearer = g.api_bearer
    key = limit_key(bearer)
    count_request(key)
    provider, model = resolve_model(asked.model)
    running = current_app.extensions["webui.api_running"]
    locale = str(get_locale())
    # Admitted before its images are read (each in a child process): the cap on answers at once bounds that work too.
    ticket = running.admit(bearer.token_id, key, locale)
    if ticket is None:
        message = _("Too many answers are being written for you at once; wait for one to finish.")
        raise UserError(message, code="rate_limited", retry_after=BUSY_RETRY_SECONDS)
    try:
        messages = images.read_all(bearer.owner, provider, model, asked.messages)
        budget = Budget(provider, model)
        budget.warm(messages)
        window = budget.fit(messages, asked.options)
        # Only a model's own tokenizer gives the prompt's true count; an estimate is no usage to report.
        counted = budget.exact
        writer = PullWriter()
        cursor = Cursor(writer, "api")
        if current_app.config["WEBUI_API_STORE"]:
            answer = store.stored_answer(cursor, bearer.owner, messages, window.messages, provider.name, model, asked.options)
        else:
            answer = Answer(cursor, provider.name, model)
        answer.context = window.context
        ticket.answer = answer
    except BaseException:
        running.release(ticket)
        raise
    run = (answer, provider, model, window.messages, asked.options)
    if asked.stream:
        return streamed(run, cursor, writer, lambda: running.release(ticket), counted, asked.include_usage, locale)
    try:
        get_runner().start(*run, locale, "webui-api-answer")
        raw = client_socket(request.environ)
        # The answer is settled once its final frame is out, whoever ended it (the watcher of revoked tokens, say).
        while not answer.settled.wait(LOOK_SECONDS):
            if hung_up(raw):
                answer.finish("stopped")
                return gone()
    finally:
        running.release(ticket)
    return whole(cursor.take(float("inf"))[0], counted)


def body_limit(config):
    """The most a chat's body may be: its text within WEBUI_MAX_REQUEST_BYTES (shapes.check_text_size), as the page's
    chat frame, and images besides of up to one upload's size (WEBUI_MAX_UPLOAD_BYTES) in base64."""
    return config["WEBUI_MAX_REQUEST_BYTES"] + 4 * -(-config["WEBUI_MAX_UPLOAD_BYTES"] // 3)


def gone():
    """The response to a client that hung up before its answer began: nobody reads it (499, as nginx logs it)."""
    return Response(status=499)


def answer_error(final):
    """An answer's error frame in OpenAI's shape: the provider (or whoever ended it) failed."""
    return error_response(final["code"], final["message"], provider_failed=True)


def whole(frames, counted):
    """The chat.completion object of an answer that has ended, or the error it ended with."""
    text, final = text_and_final(frames)
    if final["type"] == "error":
        return answer_error(final)
    if final["reason"] == "interrupted":
        return error_response("interrupted", interrupted_message())
    start = frames[0]
    return jsonify(Reply(start["provider"], start["model"]).completion(text, final["reason"], usage(final["stats"], counted)))


def streamed(run, cursor, writer, release, counted, include_usage, locale):
    """Start the answer in its own thread and stream it from its first chunk; an answer that fails before its first
    chunk is an HTTP error instead, as the stream has not begun."""
    answer = run[0]

    def abandon():
        answer.finish("stopped")
        answer.detach(cursor)
        release()

    try:
        get_runner().start(*run, locale, "webui-api-answer")
        first = first_frames(writer, cursor, client_socket(request.environ))
    except BaseException:
        abandon()
        raise
    if first is None:
        abandon()
        return gone()
    failed = failure(first)
    if failed:
        answer.detach(cursor)
        release()
        return answer_error(failed)
    reply = Reply(first[0]["provider"], first[0]["model"])
    body = EventStream(answer, cursor, writer, reply, first, counted, include_usage, release, locale)
    # No proxy may hold the events back to send them in one piece (nginx reads this header).
    return Response(body, mimetype="text/event-stream", headers={"X-Accel-Buffering": "no"})
