"""OpenAI-compatible servers: POST /chat/completions streamed as server-sent events, GET /models."""
import json

from .streams import sse_data
from .failures import Failure, json_object, raise_if_error
from .upstream import UpstreamProvider

# The bridge's options under their own names: the OpenAI ones, plus top_k, min_p and
# repeat_penalty, which llama.cpp, vLLM and LM Studio read and strict servers refuse with a clear 400.
OPTIONS = (
    "temperature", "top_p", "max_tokens", "presence_penalty", "frequency_penalty", "seed", "stop",
    "top_k", "min_p", "repeat_penalty",
)


def first_choice(data):
    """The first choice of a completion object, or {} when it has none."""
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def part(choice, key):
    """The text content of a choice's `delta` or `message`, or ""."""
    content = choice.get(key)
    content = content.get("content") if isinstance(content, dict) else None
    return content if isinstance(content, str) else ""


class OpenAIProvider(UpstreamProvider):
    """A server speaking the OpenAI chat completions API."""

    chat_path = "/chat/completions"
    models_path = "/models"

    def chat_body(self, model, messages, stream, options):
        """Model, messages and the whitelisted options, at the top level as the API wants them."""
        return {
            "model": model,
            "messages": messages,
            "stream": stream,
            **{key: value for key, value in options.items() if key in OPTIONS},
        }

    def parse_models(self, data):
        """The ids in {"data": [{"id": ...}, ...]}."""
        listing = data.get("data")
        if not isinstance(listing, list):
            raise Failure("bad_stream", detail=json.dumps(data))
        return [m["id"] for m in listing if isinstance(m, dict) and isinstance(m.get("id"), str)]

    def stream_texts(self, lines):
        """Yield each chunk's delta content; finished at [DONE] or at the first finish_reason."""
        for data in sse_data(lines):
            if data.strip() == "[DONE]":
                return True
            event = json_object(data)
            raise_if_error(event)
            choice = first_choice(event)
            text = part(choice, "delta")
            if text:
                yield text
            # What may follow (a usage chunk, [DONE]) carries no text: no reason to wait for it.
            if choice.get("finish_reason"):
                return True
        return False

    def whole_text(self, data):
        """The message content of a non-streamed completion."""
        raise_if_error(data)
        choice = first_choice(data)
        if not choice:
            raise Failure("bad_stream", detail=json.dumps(data))
        return part(choice, "message")
