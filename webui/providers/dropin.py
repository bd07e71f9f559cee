"""A drop-in module written to the classic provider contract, as a provider."""
from flask_babel import gettext as _

from ..attachments.prompt import openai_messages, text_messages
from ..errors import NeedsKeyError, ProviderError
from . import module_steps
from .base import Provider


class ModuleProvider(Provider):
    """A module written for the classic contract: url, model, supports_stream, needs_auth, _create_completion; and
    supports_images, for a module whose models read images."""

    def __init__(self, name, module, key=None):
        """Wrap the module; `key` is passed as `auth` to modules that need one."""
        super().__init__(name)
        self.module = module
        self.key = key
        self.url = getattr(module, "url", None)
        self.supports_stream = bool(getattr(module, "supports_stream", False))
        self.needs_auth = bool(getattr(module, "needs_auth", False))
        self.supports_images = getattr(module, "supports_images", False) is True

    def models(self):
        """Return the module's `model`, which may be one name or a list (any iterable) of names."""
        model = self.module.model
        try:
            models = [model] if isinstance(model, str) else list(model)
        except Exception as e:  # `model` is no list, or the module's own iterable failed
            raise self._unlisted(type(e).__name__) from e
        if not all(isinstance(name, str) for name in models):
            raise self._unlisted(_("“model” must be a name or a list of names"))
        return models

    def _unlisted(self, error):
        """The error of a module whose models cannot be listed: the listing shows it, a chat gets it."""
        return ProviderError(
            _("%(file)s could not list its models: %(error)s", file=f"{self.name}.py", error=error),
            code="provider_unavailable",
        )

    def context_limit(self, model):
        """The module's `context_length`: one number of tokens, or one per model name."""
        length = getattr(self.module, "context_length", None)
        if isinstance(length, dict):
            length = length.get(model)
        return length if isinstance(length, int) and not isinstance(length, bool) and length > 0 else None

    def reads_images(self, model):
        """A module's models read images when it says `supports_images = True`."""
        return self.supports_images

    def with_key(self, key):
        """The same module as a new provider with `key`: a provider already answering keeps the key it started with."""
        return ModuleProvider(self.name, self.module, key)

    def check(self):
        """A module that needs a key is unusable until an admin or the configuration gives it one."""
        if self.needs_auth and not self.key:
            raise NeedsKeyError(
                _(
                    "%(name)s needs a key: an administrator can add it in Settings → Connections (or under "
                    "[provider_keys] in the config file).",
                    name=self.name,
                )
            )

    def complete(self, model, messages, stream=True, **options):
        """The module's generator (under gevent, its chunks as module_steps steps them), or its plain string as the one
        chunk; runner.relay makes other chunks text.
        Its `messages` are plain {"role", "content"} dicts, or for a module with supports_images OpenAI's, a message
        with images having content parts (see attachments/prompt.py)."""
        # Returned, not wrapped in a generator of ours: every chunk would pay for another Python frame.
        self.check()
        if self.needs_auth:
            options["auth"] = self.key
        messages = openai_messages(messages) if self.supports_images else text_messages(messages)
        stream = stream and self.supports_stream
        result = module_steps.start(self.module, lambda: self.module._create_completion(model, messages, stream, **options))
        return [result] if isinstance(result, str) else result

    def secrets(self):
        """The module's key."""
        return (self.key,) if self.key else ()
