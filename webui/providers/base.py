"""The `Provider` base class every provider extends, and `Unavailable`, a provider that can never be used."""
import logging

from flask_babel import gettext as _

from ..chat.context import ESTIMATE
from ..errors import ProviderError, UserError

log = logging.getLogger(__name__)


class Provider:
    """A named source of chat completions; subclasses override models() and complete()."""

    supports_stream = True
    needs_auth = False
    # Seconds an answer may go without text before it ends with `timeout`; None: WEBUI_PROVIDER_IDLE_SECONDS.
    idle_seconds = None
    # Tokens kept for the answer when a request sets no max_tokens; None: a share of the context (see chat/context.py).
    answer_tokens = None
    # The generation options the provider uses when a request leaves them out, where it knows them: the page shows them.
    option_defaults = {}

    def __init__(self, name, label=None):
        """Name the provider; the label is what the dropdown shows."""
        self.name = name
        self.label = label or name

    def models(self):
        """Return the model names this provider offers."""
        return []

    def default_model(self):
        """Return the model used when a request names none."""
        models = self.models()
        return models[0] if models else None

    def idle_limit(self, default):
        """Seconds this provider's answers may go without text; `default` is WEBUI_PROVIDER_IDLE_SECONDS."""
        return default if self.idle_seconds is None else self.idle_seconds

    def check(self):
        """Raise a UserError when the provider cannot be used right now."""

    def context_limit(self, model):
        """The tokens `model`'s context holds; None when unknown, and then the whole history is sent."""
        return None

    def reads_images(self, model):
        """Whether `model` reads images (see attachments/prompt.py); a model that does not is never sent one."""
        return False

    def token_counter(self, model):
        """How `model`'s tokens are counted (see context.Estimate): estimated, unless the provider has its tokenizer."""
        return ESTIMATE

    def complete(self, model, messages, stream=True, **options):
        """Yield the answer's text chunks."""
        raise NotImplementedError

    def demo_model(self):
        """The name of a model that is only a demonstration (the page says so when it is chosen), or None."""
        return None

    def secrets(self):
        """Values that must never reach a page or a log, e.g. in the text of a provider's exception."""
        return ()

    def describe(self):
        """Describe the provider for /api/providers, never raising."""
        info = {
            "name": self.name,
            "label": str(self.label),
            "models": [],
            "default_model": None,
            "supports_stream": bool(self.supports_stream),
            "needs_auth": bool(self.needs_auth),
            "available": True,
            "error": None,
            "defaults": dict(self.option_defaults),
            "demo_model": None,
        }
        try:
            self.check()
            info["models"] = list(self.models())
            info["default_model"] = self.default_model()
            info["demo_model"] = self.demo_model()
        except UserError as e:
            info.update(available=False, error=e.message)
        except Exception as e:  # a broken provider must not take the listing down
            log.warning("provider %s failed to describe itself: %r", self.name, e)
            info.update(available=False, error=_("The provider failed: %(error)s", error=type(e).__name__))
        return info


class Unavailable(Provider):
    """A provider that can never be used (a module that failed to load, a bad config entry): listed with why, never called."""

    def __init__(self, name, reason, code):
        """`reason()` says why in the current language, so each reader gets it in theirs; `code` is the error's code."""
        super().__init__(name)
        self.reason = reason
        self.code = code

    def check(self):
        """Always unusable."""
        raise ProviderError(self.reason(), code=self.code)

    def complete(self, model, messages, stream=True, **options):
        """Refuse, saying why."""
        self.check()
