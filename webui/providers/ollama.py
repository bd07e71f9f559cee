"""Ollama: its native chat API streamed as newline-delimited JSON, and its own models listed, pulled and deleted.

Answers come from POST /api/chat, the models from GET /api/tags, a model's context and whether it reads images from
POST /api/show; a pull is POST /api/pull, streamed, a delete DELETE /api/delete.
"""
import json
import logging
import re

from ..attachments.prompt import ollama_messages
from ..chat.markers import ending
from .failures import Failure, json_object, raise_if_error
from .lines import LineTooLong, text_lines
from .ollama_models import DELETE_MESSAGES, MAX_PULL_LINE, PULL_MESSAGES, installed, paced, progress
from .upstream import UpstreamProvider, as_failure

log = logging.getLogger(__name__)

# The chat frame's option names (chat/options.py), and what Ollama calls them inside "options".
OPTIONS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "max_tokens": "num_predict",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "repeat_penalty": "repeat_penalty",
    "seed": "seed",
    "stop": "stop",
}


# Ollama's default context window when a model sets no num_ctx (OLLAMA_CONTEXT_LENGTH): a model's trained context is
# used only up to it, and the window used is always sent as num_ctx, so that what the budget counts is what Ollama keeps
# (past its window Ollama drops the oldest messages without saying so).
DEFAULT_CONTEXT = 4096
NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.M)


def shown_context(data):
    """The context window an /api/show answer gives its model: its num_ctx parameter, else its trained context length
    up to DEFAULT_CONTEXT; None when it says neither."""
    parameters = data.get("parameters")
    found = NUM_CTX.search(parameters) if isinstance(parameters, str) else None
    if found:
        return int(found[1])
    info = data.get("model_info")
    lengths = [v for k, v in info.items() if k.endswith(".context_length")] if isinstance(info, dict) else []
    if lengths and isinstance(lengths[0], int) and lengths[0] > 0:
        return min(lengths[0], DEFAULT_CONTEXT)
    return None


def content(event):
    """The text of an event's message, or ""."""
    message = event.get("message")
    text = message.get("content") if isinstance(message, dict) else None
    return text if isinstance(text, str) else ""


class OllamaProvider(UpstreamProvider):
    """An Ollama server."""

    chat_path = "/api/chat"
    models_path = "/api/tags"

    def chat_body(self, model, messages, stream, options):
        """Model, messages (images in their `images`), and the whitelisted options renamed into Ollama's `options`, with
        the context window."""
        window = self.context_limit(model)
        return {
            "model": model,
            "messages": ollama_messages(messages),
            "stream": stream,
            "options": {OPTIONS[key]: value for key, value in options.items() if key in OPTIONS}
            | ({"num_ctx": window} if window else {}),
        }

    def context_limit(self, model):
        """The connection's context_length, else what Ollama says of the model (see shown_context); None when it
        cannot say."""
        if self.context_length:
            return self.context_length
        shown = self.shown(model)
        return None if shown is None else shown_context(shown)

    def reads_images(self, model):
        """Whether the connection says `model` reads images, else whether Ollama lists "vision" among its
        capabilities; False when it cannot say."""
        if super().reads_images(model):
            return True
        shown = self.shown(model)
        capabilities = shown.get("capabilities") if shown is not None else None
        return isinstance(capabilities, list) and "vision" in capabilities

    def shown(self, model):
        """What POST /api/show says of `model`, asked at most once per models_ttl; None when it failed."""
        shown = self.asked(f"show {model}", lambda: self.fetch_json("POST", "/api/show", json={"model": model}))
        return None if isinstance(shown, Failure) else shown

    def parse_models(self, data):
        """The names in {"models": [{"name": ...}, ...]}."""
        listing = data.get("models")
        if not isinstance(listing, list):
            raise Failure("bad_stream", detail=json.dumps(data))
        return [m["name"] for m in listing if isinstance(m, dict) and isinstance(m.get("name"), str)]

    def stream_texts(self, lines):
        """Yield each line's message content; finished at the line that says done, which says why and after how
        many tokens (`done_reason`, `eval_count`)."""
        for line in lines:
            if not line.strip():
                continue
            event = json_object(line)
            raise_if_error(event)
            text = content(event)
            if text:
                yield text
            if event.get("done"):
                yield ending(event.get("done_reason"), event.get("eval_count"))
                return True
        return False

    def whole_answer(self, data):
        """The message content of a non-streamed answer, then how it ended."""
        raise_if_error(data)
        if not isinstance(data.get("message"), dict):
            raise Failure("bad_stream", detail=json.dumps(data))
        text = content(data)
        if text:
            yield text
        yield ending(data.get("done_reason"), data.get("eval_count"))

    def installed(self):
        """The models installed on the server, with their size and details (see ollama_models.installed)."""
        try:
            return installed(self.fetch_json("GET", self.models_path))
        except Failure as failure:
            raise self.user_error(failure) from None

    def pull(self, model, idle_seconds):
        """Yield the progress of the server's download of `model` (see ollama_models.progress) until it has it; each
        line must come within `idle_seconds`. Closing the generator hangs up, and Ollama stops the download."""
        try:
            body = {"model": model, "stream": True}
            response = self._send("POST", "/api/pull", (self.timeout, idle_seconds), model=model, json=body)
            try:
                chunks = paced(self._chunks(response, idle_seconds), idle_seconds)
                for line in text_lines(chunks, MAX_PULL_LINE):
                    if not line.strip():
                        continue
                    step = progress(json_object(line))
                    if step is None:
                        return
                    yield step
            finally:
                response.close()
            raise Failure("interrupted")
        except (Failure, LineTooLong) as e:
            failure = as_failure(e)
            log.warning("provider %s: pulling a model failed: %s", self.name, failure.code)
            raise self.user_error(failure, PULL_MESSAGES, model=model) from None

    def delete(self, model):
        """Delete `model` from the server."""
        try:
            self._send("DELETE", "/api/delete", (self.timeout, self.read_timeout), model=model, json={"model": model}).close()
        except Failure as failure:
            raise self.user_error(failure, DELETE_MESSAGES, model=model) from None
