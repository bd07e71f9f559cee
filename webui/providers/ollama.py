"""Ollama: its native POST /api/chat streamed as newline-delimited JSON, GET /api/tags."""
import json

from .failures import Failure, json_object, raise_if_error
from .upstream import UpstreamProvider

# The bridge's option names, and what Ollama calls them inside "options".
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
        """Model, messages, and the whitelisted options renamed into Ollama's `options`."""
        return {
            "model": model,
            "messages": messages,
            "stream": stream,
            "options": {OPTIONS[key]: value for key, value in options.items() if key in OPTIONS},
        }

    def parse_models(self, data):
        """The names in {"models": [{"name": ...}, ...]}."""
        listing = data.get("models")
        if not isinstance(listing, list):
            raise Failure("bad_stream", detail=json.dumps(data))
        return [m["name"] for m in listing if isinstance(m, dict) and isinstance(m.get("name"), str)]

    def stream_texts(self, lines):
        """Yield each line's message content; finished at the line that says done."""
        for line in lines:
            if not line.strip():
                continue
            event = json_object(line)
            raise_if_error(event)
            text = content(event)
            if text:
                yield text
            if event.get("done"):
                return True
        return False

    def whole_text(self, data):
        """The message content of a non-streamed answer."""
        raise_if_error(data)
        if not isinstance(data.get("message"), dict):
            raise Failure("bad_stream", detail=json.dumps(data))
        return content(data)
