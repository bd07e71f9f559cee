"""`auto`: the configured servers in config order, then local, each tried until one starts answering."""
import logging

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..attachments.prompt import Vision
from ..chat.context import Budget, Trimmed
from ..chat.markers import Via
from ..errors import ProviderError, UserError, error_text, failure_message
from .base import Provider
from .upstream import UpstreamProvider

log = logging.getLogger(__name__)

AUTO = "auto"
# Each provider answers with its own default model; "default" is the one name auto offers.
DEFAULT_MODEL = "default"


def first_text(chunks):
    """The first non-empty chunk, or None when the answer ends without one."""
    for text in chunks:
        if text:
            return text
    return None


def close(chunks):
    """Close a provider's generator, if it has started one."""
    if hasattr(chunks, "close"):
        chunks.close()


def describe_failure(provider, error):
    """What to tell the reader about a provider that failed before answering."""
    if isinstance(error, UserError):
        return error.message
    log.warning("provider %s failed: %s", provider.name, error_text(error, provider.secrets()))
    return failure_message(error, provider.secrets())


class AutoProvider(Provider):
    """Falls back to the next provider only while nothing has been sent: a started answer is never retried."""

    def __init__(self, candidates):
        """Try `candidates` in this order."""
        super().__init__(AUTO, _l("Auto (fallback)"))
        self.candidates = list(candidates)

    def models(self):
        """One pseudo-model: each provider's own default."""
        return [DEFAULT_MODEL]

    def reads_images(self, model):
        """Whether one of its providers' default models reads images: only those are tried with images."""
        return any(reads_images(provider) for provider in self.candidates)

    def idle_limit(self, default):
        """The longest of its providers' limits: whichever answers may need it."""
        return max(provider.idle_limit(default) for provider in self.candidates)

    def complete(self, model, messages, stream=True, **options):
        """Say who answers (Via) before the first chunk, then stream that provider's answer."""
        failures = []
        for provider in self.candidates:
            chunks = None
            try:
                provider.check()
                chosen = provider.default_model()
                Vision(provider, chosen).check(messages)
                # Fitted to the context of the provider tried: auto's own is unknown, as it depends on who answers.
                budget = Budget(provider, chosen)
                budget.warm(messages)
                window = budget.fit(messages, options)
                chunks = iter(provider.complete(chosen, window.messages, stream=stream, **options))
                first = first_text(chunks)
            except Exception as e:
                log.info("auto: %s failed before answering, trying the next provider", provider.name)
                failures.append(describe_failure(provider, e))
                close(chunks)
                continue
            try:
                yield Via(provider.name, chosen)
                if window.context["dropped_messages"]:
                    yield Trimmed(window.context["dropped_messages"], window.context["limit"])
                if first:
                    yield first
                yield from chunks
            finally:
                close(chunks)
            return
        raise ProviderError(_("No provider could answer. %(failures)s", failures=" ".join(failures)), code="all_failed")


def reads_images(provider):
    """Whether a provider's default model reads images; not when the provider cannot be used now (it says why when it
    is tried)."""
    try:
        return provider.reads_images(provider.default_model())
    except UserError:
        return False


def over(providers):
    """`auto` over the servers among `providers`, in their order, with local, if present, as the last resort; None when
    there is no server."""
    servers = [p for p in providers if isinstance(p, UpstreamProvider)]
    return AutoProvider(servers + [p for p in providers if p.name == "local"]) if servers else None
