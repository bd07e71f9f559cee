"""What a built-in provider may yield besides text: facts about its answer for the run loop (runner.relay).

Drop-in modules yield text only; the classic contract does not change.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Via:
    """Yielded by a provider that hands the request to another (auto) before its first chunk."""

    provider: str
    model: str


@dataclass(frozen=True)
class Ending:
    """Yielded last: why the model stopped ("complete", or "length" at its token limit) and how many tokens it
    wrote (None when the provider cannot tell)."""

    reason: str = "complete"
    tokens: int | None = None


def ending(reason, tokens):
    """The Ending of an answer whose model stopped for `reason` (as llama.cpp, OpenAI and Ollama name it) after writing
    `tokens`, as reported: a reason other than "length" is a plain end, and tokens that are not a count are unknown."""
    count = isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0
    return Ending("length" if reason == "length" else "complete", tokens if count else None)
