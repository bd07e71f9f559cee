"""OpenAI-compatible servers: POST /chat/completions streamed as server-sent events, GET /models."""
import json

from ..attachments.prompt import openai_messages
from ..chat.markers import ending
from .failures import Failure, json_object, raise_if_error
from .lines import sse_data
from .upstream import UpstreamProvider

# The chat frame's options (chat/options.py) under their own names: the OpenAI ones, plus top_k, min_p and
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


def completion_tokens(data):
    """The tokens the model wrote, from the `usage` of a chunk or an answer; None when it has none."""
    usage = data.get("usage")
    return usage.get("completion_tokens") if isinstance(usage, dict) else None


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
        """Model, messages (images as content parts) and the whitelisted options, at the top level as the API wants
        them; a stream is asked to end with the tokens it used, for the page's rate."""
        return {
            "model": model,
            "messages": openai_messages(messages),
            "stream": stream,
            **({"stream_options": {"include_usage": True}} if stream else {}),
            **{key: value for key, value in options.items() if key in OPTIONS},
        }

    def parse_models(self, data):
        """The ids in {"data": [{"id": ...}, ...]}."""
        listing = data.get("data")
        if not isinstance(listing, list):
            raise Failure("bad_stream", detail=json.dumps(data))
        return [m["id"] for m in listing if isinstance(m, dict) and isinstance(m.get("id"), str)]

    def stream_texts(self, lines):
        """Yield each chunk's delta content, then how the answer ended; finished at [DONE], or once a finish_reason
        has come with the usage it was asked for, or when the body ends after a finish_reason."""
        reason = tokens = None
        try:
            for data in sse_data(lines):
                if data.strip() == "[DONE]":
                    break
                event = json_object(data)
                raise_if_error(event)
                tokens = completion_tokens(event) or tokens
                choice = first_choice(event)
                text = part(choice, "delta")
                if text:
                    yield text
                reason = reason or choice.get("finish_reason")
                if reason and tokens is not None:
                    break
            else:
                if not reason:
                    return False
        except Failure:
            # The usage chunk that did not come (a stall or a cut after the finish_reason) takes nothing away.
            if not reason:
                raise
        yield ending(reason, tokens)
        return True

    def whole_answer(self, data):
        """The message content of a non-streamed completion, then how it ended."""
        raise_if_error(data)
        choice = first_choice(data)
        if not choice:
            raise Failure("bad_stream", detail=json.dumps(data))
        text = part(choice, "message")
        if text:
            yield text
        yield ending(choice.get("finish_reason"), completion_tokens(data))
