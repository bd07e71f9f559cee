"""What /v1 takes and gives in OpenAI's shapes: a chat completion request checked, the answer's objects, the errors.

A message's content parts are read in content_parts alone: text parts become its text, image_url parts its images
(taken apart by images.py, and read once its model is known to read images).
"""
import json
import secrets
import time
from dataclasses import dataclass

from flask import current_app, jsonify
from flask_babel import gettext as _

from ..chat.options import NUMERIC_OPTIONS, parse_options
from ..errors import ProviderError, UserError, bad_request, retry_after_header
from . import images

# OpenAI's "developer" role is its newer name for "system".
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
MAX_MODEL_CHARS = 300
# Fields a client may send that this server cannot honour, refused rather than ignored: the answer would not be what
# was asked for. Any other field it does not know (user, metadata, store…) is ignored, as many clients send their own.
UNSUPPORTED = ("tools", "functions", "audio", "prediction", "logit_bias", "logprobs")
# How an answer's end (a done frame's reason) is told: an answer stopped by its client has no one left to tell.
FINISH_REASONS = {"complete": "stop", "stopped": "stop", "length": "length"}

# Each error code of this server as OpenAI's clients expect it: (HTTP status, OpenAI's error type, OpenAI's own code if
# it has one). A code not listed is a bad request (400) when the request is refused, and a provider's failure (502)
# when a provider fails.
ERRORS = {
    "unauthorized": (401, "invalid_request_error", "invalid_api_key"),
    "token_revoked": (401, "invalid_request_error", "invalid_api_key"),
    "forbidden_origin": (403, "invalid_request_error", None),
    "forbidden": (403, "invalid_request_error", None),
    "unknown_model": (404, "invalid_request_error", "model_not_found"),
    "unknown_provider": (404, "invalid_request_error", "model_not_found"),
    "not_found": (404, "invalid_request_error", None),
    "method_not_allowed": (405, "invalid_request_error", None),
    "too_large": (413, "invalid_request_error", "request_too_large"),
    "context_exceeded": (400, "invalid_request_error", "context_length_exceeded"),
    "rate_limited": (429, "requests", "rate_limit_exceeded"),
    "internal_error": (500, "server_error", None),
    "needs_key": (503, "server_error", None),
    "provider_unavailable": (503, "server_error", None),
    "bad_config": (503, "server_error", None),
    "shutting_down": (503, "server_error", None),
    "interrupted": (503, "server_error", None),
    "storage_busy": (503, "server_error", None),
    "busy": (503, "server_error", None),
    "storage_failed": (503, "server_error", None),
    "timeout": (504, "server_error", None),
    "storage_full": (507, "server_error", None),
}


# The codes of failures a retry may cure (a wait, a restart, a network's hiccup). OpenAI's clients retry every 5xx,
# 408, 409 and 429 unless told `x-should-retry: false`, which every other failure says: a provider that raised or a
# key refused would be asked again for nothing (and a stored request stored again, a paid one charged again).
RETRYABLE = frozenset({
    "rate_limited", "busy", "storage_busy", "storage_failed", "shutting_down", "interrupted", "timeout", "unreachable",
    "upstream_error", "internal_error", "shared_unavailable",
})


def error_body(code, message, provider_failed, param=None):
    """(HTTP status, body) of an error in OpenAI's shape, {"error": {"message", "type", "param", "code"}}.

    It is not the page's envelope (errors.json_error, {"error": {"code", "message"}}): OpenAI's clients read `type` and
    `param` and raise by status, and this API answers them as OpenAI documents it, so the two shapes stay apart."""
    default = (502, "server_error", None) if provider_failed else (400, "invalid_request_error", None)
    status, kind, openai_code = ERRORS.get(code, default)
    return status, {"error": {"message": message, "type": kind, "param": param, "code": openai_code or code}}


def error_response(code, message, provider_failed=False, param=None, retry_after=None):
    """An error in OpenAI's shape with its status, and Retry-After when the caller is to wait."""
    status, body = error_body(code, message, provider_failed, param)
    headers = retry_after_header(retry_after)
    if code not in RETRYABLE:
        headers["x-should-retry"] = "false"
    return jsonify(body), status, headers


def user_error_response(error):
    """A refusal raised while handling a /v1 request, in OpenAI's shape; a provider's failure is one upstream (502)."""
    details = error.details
    return error_response(
        error.code, error.message, isinstance(error, ProviderError), details.get("param"), details.get("retry_after")
    )


def refused(message, param=None, code="bad_request"):
    """A UserError that names the field of the request it is about."""
    return UserError(message, code=code, param=param)


@dataclass
class CompletionRequest:
    """A checked POST /v1/chat/completions body."""

    model: str
    messages: list
    options: dict
    stream: bool
    include_usage: bool


def content_parts(content, index, role):
    """(text, images) of a message's content: a string, or a list of parts, its text parts joined by line breaks and
    its image parts (images.Part) beside them, as a message of the page carries its attachments.

    This is the one place a content part is read. An image_url part holds a data: URL (images.part); a Responses-API
    input_image part is refused with the shape to use instead."""
    if isinstance(content, str):
        return content, []
    param = f"messages[{index}].content"
    if not isinstance(content, list) or not content:
        raise refused(_("Each message needs its content: text, or a list of content parts."), param)
    texts, pictures = [], []
    for number, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        where = f"{param}[{number}]"
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url" and role == "user":
            pictures.append(images.part(part, where))
        elif kind == "image_url":
            raise refused(_("Only user messages may carry images."), where)
        elif kind == "input_image":
            message = _(
                "“input_image” parts belong to OpenAI's Responses API; in chat completions an image is"
                " {\"type\": \"image_url\", \"image_url\": {\"url\": \"data:image/png;base64,…\"}}."
            )
            raise refused(message, where)
        else:
            raise refused(_("A content part must be {\"type\": \"text\", \"text\": \"…\"} or an image_url."), where)
    return "\n".join(texts), pictures


def checked_messages(messages):
    """OpenAI's messages as a provider takes them: {"role", "content"} with text content, and "images" (images.Part)
    where a user message has image parts."""
    if not isinstance(messages, list) or not messages:
        raise refused(_("“messages” must be a non-empty list."), "messages")
    checked = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("tool", "function"):
            raise refused(_("This server does not support tools (function calling)."), f"messages[{index}].role")
        if role not in ROLES:
            raise refused(_("Each message needs a role: system, developer, user or assistant."), f"messages[{index}].role")
        text, pictures = content_parts(message.get("content"), index, role)
        checked.append({"role": ROLES[role], "content": text, **({"images": pictures} if pictures else {})})
    images.check_count(checked)
    check_text_size(checked)
    return checked


def check_text_size(messages):
    """Refuse messages whose text is over WEBUI_MAX_REQUEST_BYTES, the page's bound on a chat frame (images come
    besides it: see routes.body_limit)."""
    limit = current_app.config["WEBUI_MAX_REQUEST_BYTES"]
    if sum(len(message["content"].encode()) for message in messages) > limit:
        message = _("The messages' text is too large (the limit is %(kib)d KiB; images may come besides it).", kib=limit // 1024)
        raise refused(message, "messages", code="too_large")


def checked_options(body):
    """The generation options in the body (OpenAI's, and the page's own where a server takes them), checked as the
    page's are; a null is the provider's default."""
    options = {key: body[key] for key in (*NUMERIC_OPTIONS, "stop") if body.get(key) is not None}
    if body.get("max_completion_tokens") is not None:
        options["max_tokens"] = body["max_completion_tokens"]
    if isinstance(options.get("stop"), str):
        options["stop"] = [options["stop"]]
    try:
        return parse_options(options)
    except UserError as e:
        option = e.details.get("option")
        # max_completion_tokens, when sent, is what max_tokens was taken from.
        sent_as = "max_completion_tokens" if option == "max_tokens" and body.get("max_completion_tokens") is not None else option
        raise refused(e.message, sent_as) from None


def refuse_unsupported(body):
    """Refuse what the answer could not honour: tools, token biases, more than one choice, audio, log probabilities, a
    response format."""
    for field in UNSUPPORTED:
        if body.get(field):
            raise refused(_("This server does not support “%(name)s”.", name=field), field)
    n = body.get("n")
    if n is not None and (n.__class__ is not int or n != 1):
        raise refused(_("This server writes one answer per request: “n” must be 1."), "n")
    modalities = body.get("modalities")
    if modalities is not None and (not isinstance(modalities, list) or any(kind != "text" for kind in modalities)):
        raise refused(_("This server writes text only: “modalities” may name only “text”."), "modalities")
    response_format = body.get("response_format")
    if response_format is not None and response_format != {"type": "text"}:
        raise refused(_("This server does not support “%(name)s”.", name="response_format"), "response_format")


def completion_request(body):
    """Check a POST /v1/chat/completions body."""
    if not isinstance(body, dict):
        raise refused(_("The request must be a JSON object."))
    model = body.get("model")
    if not isinstance(model, str) or not 0 < len(model) <= MAX_MODEL_CHARS:
        raise refused(_("“model” must name a model, as GET /v1/models lists them (such as “local”)."), "model")
    refuse_unsupported(body)
    stream, stream_options = body.get("stream", False), body.get("stream_options") or {}
    if not isinstance(stream, bool) or not isinstance(stream_options, dict):
        raise bad_request(_("“stream” must be true or false, and “stream_options” an object."))
    messages, options = checked_messages(body.get("messages")), checked_options(body)
    return CompletionRequest(model, messages, options, stream, stream_options.get("include_usage") is True)


def model_list(ids, owners):
    """GET /v1/models: OpenAI's list of model objects."""
    return {"object": "list", "data": [model_object(model_id, owners[model_id]) for model_id in ids]}


def model_object(model_id, owner):
    """One model as OpenAI describes it; `owned_by` is its provider."""
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner}


def encoded(value):
    """JSON as UTF-8 bytes; text holding half of a surrogate pair (an emoji a provider cut in two) is escaped instead,
    so the client joins the halves again."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":")).encode()


class Reply:
    """One answer's OpenAI objects, which share its id, creation time and model id ("provider/model")."""

    def __init__(self, provider, model):
        """A new answer of `model` by `provider`."""
        self.id = "chatcmpl-" + secrets.token_urlsafe(18)
        self.created = int(time.time())
        self.model = f"{provider}/{model}"
        head = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model}
        # Every chunk of a stream is this head and one choice; only the content changes, so only it is encoded per chunk.
        self._head = b"data: " + encoded(head)[:-1] + b',"system_fingerprint":null,"choices":[{"index":0,"delta":'
        self._open = b',"logprobs":null,"finish_reason":null}]}\n\n'

    def role_event(self):
        """The stream's first event: who speaks."""
        return self._head + b'{"role":"assistant","content":""}' + self._open

    def content_event(self, text):
        """An event carrying the next piece of the answer."""
        return self._head + b'{"content":' + encoded(text) + b"}" + self._open

    def finish_event(self, reason, usage, include_usage):
        """The events that end a stream: the finish reason, the usage if asked for, then [DONE]."""
        events = self._head + b"{}" + b',"logprobs":null,"finish_reason":' + encoded(FINISH_REASONS.get(reason, "stop")) + b"}]}\n\n"
        if include_usage:
            chunk = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                     "choices": [], "usage": usage}
            events += b"data: " + encoded(chunk) + b"\n\n"
        return events + b"data: [DONE]\n\n"

    def completion(self, text, reason, usage):
        """The whole answer as one chat.completion object."""
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                  "finish_reason": FINISH_REASONS.get(reason, "stop")}
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "system_fingerprint": None, "choices": [choice], "usage": usage}


def error_event(code, message):
    """A failure after the stream began, as OpenAI's API sends one: an event holding the error (its clients raise it)."""
    return b"data: " + encoded(error_body(code, message, provider_failed=True)[1]) + b"\n\n"


def usage(stats, counted):
    """The usage object of an answer whose stats are `stats`, where both counts are known: the completion's when its
    provider said, the prompt's when it was `counted` with the model's own tokenizer (the local models). Else None."""
    completion_tokens, prompt_tokens = stats.get("tokens"), (stats.get("context") or {}).get("used") if counted else None
    if completion_tokens is None or prompt_tokens is None:
        return None
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
