"""The context budget: what of a conversation a model is sent, so that a conversation of any length keeps working.

The system prompt is always sent, then the newest whole turns (a user message and what answered it) that fit in the
model's context with room left for the answer; no message is ever cut. Tokens are counted with the model's own
tokenizer where the provider has it (the local models), and estimated from the text's length otherwise.
"""
import logging
import math
from dataclasses import dataclass

from flask_babel import format_number, ngettext
from flask_babel import gettext as _

from ..cooperative import in_native_thread
from ..errors import UserError, error_text

log = logging.getLogger(__name__)

# Room kept for the answer when the request sets no max_tokens and the provider has no default: a quarter of the
# context. Never more than half of it, whatever max_tokens asks: a model stops at its context's end anyway.
ANSWER_SHARE = 4
# Once the history overflows, the oldest turns are dropped in steps of this share of the room, counted from the
# conversation's start. The turns after an overflow then all begin with the same message until the next step, and a
# server that keeps the prompt it evaluated last (llama.cpp does) reads only what is new.
STEP_SHARE = 0.5
# Without the model's tokenizer: a token per 3 bytes of UTF-8 over-counts English (about 4 characters a token) and
# comes close for Cyrillic and CJK text; and what a message's role and separators add.
BYTES_PER_TOKEN = 3
MESSAGE_OVERHEAD = 4
# What an image costs, whatever its size (it is sent at most 2048 pixels a side: attachments/prompt.py). A fixed
# estimate, because each model counts its own way: OpenAI's high-detail mode charges 765 tokens for a 1024 × 768 image
# and 1,105 for the largest, LLaVA 1.5 576, Gemma 3 256, Claude up to about 1,600. 1,024 covers the common cases; a
# server that counts more and refuses the prompt as too long is sent it again without its oldest turns.
IMAGE_TOKENS = 1024


def answer_room(limit, wanted):
    """The tokens of a context of `limit` kept for the answer: `wanted` (None: a share of the context), at most half."""
    return min(wanted or limit // ANSWER_SHARE, limit // 2)


def estimated_tokens(text):
    """Tokens a text is likely to take in a tokenizer we do not have."""
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / BYTES_PER_TOKEN)


class Estimate:
    """Counts for a provider without the model's tokenizer: from the text's length."""

    def costs(self, messages):
        """The tokens each message adds to a prompt: its text (with the text of its files), and its images."""
        return [
            estimated_tokens(m["content"]) + MESSAGE_OVERHEAD + IMAGE_TOKENS * len(m.get("images", ())) for m in messages
        ]

    def prompt(self, messages):
        """The tokens of the whole prompt."""
        return MESSAGE_OVERHEAD + sum(self.costs(messages))


ESTIMATE = Estimate()


def summary(limit, used, dropped):
    """The `context` of a start frame and of an answer's stats."""
    return {"limit": limit, "used": used, "dropped_messages": dropped}


@dataclass
class Window:
    """What a provider is sent of a history, and its `context` summary."""

    messages: list
    context: dict


def turns_of(messages):
    """Split a history after its leading system messages into turns: each starts at a user message (the first one
    wherever the history starts). Returns (the system messages, [(start, end) of each turn in the rest], the rest)."""
    head = 0
    while head < len(messages) and messages[head]["role"] == "system":
        head += 1
    rest = messages[head:]
    starts = [i for i, m in enumerate(rest) if i == 0 or m["role"] == "user"]
    return messages[:head], list(zip(starts, starts[1:] + [len(rest)])), rest


def first_sent(turn_costs, room, step):
    """The first turn to send: the oldest one when everything fits. Otherwise turns are cut only where those before
    reach a new multiple of `step`, counted from the start, and the first such cut after which the rest fits wins; the
    newest turn alone at the latest."""
    total, before, level = sum(turn_costs), 0, -1
    for index, cost in enumerate(turn_costs):
        if before // step > level:
            level = before // step
            if total - before <= room:
                return index
        before += cost
    return len(turn_costs) - 1


def tokens(n):
    """"n tokens" in the reader's language, the number written as they write numbers."""
    return ngettext("%(count)s token", "%(count)s tokens", n, count=format_number(n))


def too_long(length, alone, limit, reserve):
    """The error for a newest message (`length` tokens) that does not fit, in the reader's language; the system prompt
    is to blame when the message would fit without it (`alone`: the two together)."""
    values = {"limit": tokens(limit), "kept": tokens(reserve)}
    if length <= limit - reserve:
        message = _(
            "The system prompt and this message together take %(tokens)s, and the model holds %(limit)s, of which "
            "%(kept)s are kept for the answer. Shorten the system prompt in the conversation's settings.",
            tokens=tokens(alone),
            **values,
        )
    else:
        message = _(
            "The message is too long for this model: it takes %(tokens)s, and the model holds %(limit)s, of which "
            "%(kept)s are kept for the answer. Shorten it, or split it into several messages.",
            tokens=tokens(length),
            **values,
        )
    return UserError(message, code="context_exceeded")


class Budget:
    """The context of one provider's model and how its tokens are counted, found before anything is stored: the
    provider may load the model or ask its server."""

    def __init__(self, provider, model):
        """Ask the provider for the model's context length and its token counter; a provider that fails to say is
        sent the whole history, as if its context were unknown, and reports its failure when it answers."""
        self.answer_tokens = provider.answer_tokens
        try:
            self.limit = provider.context_limit(model)
            self.counter = provider.token_counter(model) if self.limit else None
        except UserError:
            raise
        except Exception as e:
            log.warning("provider %s could not say how long its context is: %s", provider.name, error_text(e, provider.secrets()))
            self.limit = self.counter = None

    @property
    def exact(self):
        """Whether tokens are counted with the model's own tokenizer (C work), not estimated from the text's length."""
        return self.counter not in (None, ESTIMATE)

    def warm(self, messages):
        """Count the texts of `messages` ahead (under gevent in a native thread), so that fitting a history made of
        them is quick: it runs inside the turn's transaction, which must not wait for anything while it holds the
        write lock. An estimate is quick anyway."""
        if self.exact:
            in_native_thread(self.counter.costs, messages)

    def reserve(self, options):
        """The tokens kept for the answer."""
        return answer_room(self.limit, options.get("max_tokens") or self.answer_tokens)

    def fit(self, messages, options):
        """The Window of `messages` this model is sent; a UserError (`context_exceeded`) when even the newest turn,
        with the system prompt, leaves no room for the answer."""
        if not self.limit:
            return Window(messages, summary(None, None, 0))
        head, turns, rest = turns_of(messages)
        reserve = self.reserve(options)
        most = self.limit - reserve
        if not turns:
            used = self.counter.prompt(head)
            if used > most:
                raise too_long(used, used, self.limit, reserve)
            return Window(messages, summary(self.limit, used, 0))
        costs = self.counter.costs(rest)
        turn_costs = [sum(costs[start:end]) for start, end in turns]
        newest = turns[-1][0]
        alone = self.counter.prompt(head + rest[newest:])
        if alone > most:
            raise too_long(costs[-1], alone, self.limit, reserve)
        # The room for turns: what the newest one leaves, plus its own cost (the rest is the system prompt and the
        # template's own text).
        room = most - (alone - turn_costs[-1])
        first = first_sent(turn_costs, room, max(1, int(room * STEP_SHARE)))
        # The costs are counted message by message; the prompt as a whole may differ by a few tokens either way.
        while True:
            sent = head + rest[turns[first][0] :]
            used = self.counter.prompt(sent) if first < len(turns) - 1 else alone
            if used <= most:
                break
            first += 1
        dropped = turns[first][0]
        return Window(sent, summary(self.limit, used, dropped))


@dataclass(frozen=True)
class Trimmed:
    """Yielded by a provider before its first chunk when it sent fewer messages than it was given (its server refused
    them as too long): how many more it left out, and the context length the server stated, if it did."""

    dropped: int
    limit: int | None

    def applied(self, context):
        """The answer's `context` (None if it had none) once these messages were left out too."""
        context = context or summary(None, None, 0)
        return summary(self.limit or context["limit"], None, context["dropped_messages"] + self.dropped)


# After a server refused a prompt as too long, the retry aims a little under what it said it holds.
RETRY_MARGIN = 0.9


def retry_window(messages, options, limit, prompt):
    """After a server refused `messages` as too long for its context (of `limit` tokens, the prompt taking `prompt`, when
    it says): the messages to send once more and the Trimmed that tells the answer; None with only the newest turn left.
    Without both numbers, half of what was sent goes."""
    share = 0.5
    if limit and prompt:
        share = min(RETRY_MARGIN, max(0.1, RETRY_MARGIN * (limit - answer_room(limit, options.get("max_tokens"))) / prompt))
    trimmed = trim_further(messages, share)
    if trimmed is None:
        return None
    kept, dropped = trimmed
    return kept, Trimmed(dropped, limit)


def trim_further(messages, share):
    """Drop the oldest whole turns until the estimated prompt is at most `share` of what it was: (the messages left,
    how many were dropped), or None when only the newest turn was left to send."""
    head, turns, rest = turns_of(messages)
    if len(turns) < 2:
        return None
    costs = ESTIMATE.costs(rest)
    target, left = share * sum(costs), sum(costs)
    for start, end in turns[:-1]:
        left -= sum(costs[start:end])
        if left <= target:
            break
    dropped = end
    return head + rest[dropped:], dropped
