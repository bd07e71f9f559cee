"""Providers from the [[providers]] entries of the config file: one per entry, bad entries listed with their problem."""
import logging
import os
from urllib.parse import urlsplit

from flask_babel import gettext as _

from ..config import ConfigError
from .auto import AUTO
from .base import Unavailable
from .ollama import OllamaProvider
from .openai import OpenAIProvider

log = logging.getLogger(__name__)

TYPES = {"openai": OpenAIProvider, "ollama": OllamaProvider}
TEXT_KEYS = ("name", "type", "base_url", "api_key", "api_key_env")
SECONDS_KEYS = ("timeout", "read_timeout", "models_ttl")
KEYS = {*TEXT_KEYS, *SECONDS_KEYS, "models", "context_length", "vision"}


def model_names(value):
    """Whether `value` is a list of model names (perhaps empty)."""
    return isinstance(value, list) and all(isinstance(m, str) and m for m in value)


def entry_problem(entry, taken):
    """Say, in the current language, what makes an entry unusable; None when nothing does."""
    if not isinstance(entry, dict):
        return _("it must be a table of settings.")
    unknown = sorted(set(entry) - KEYS)
    if unknown:
        return _("“%(key)s” is not a known setting.", key=unknown[0])
    for key in ("name", "type", "base_url"):
        if key not in entry:
            return _("“%(key)s” is required.", key=key)
    for key in TEXT_KEYS:
        if key in entry and not (isinstance(entry[key], str) and entry[key].strip()):
            return _("“%(key)s” must be non-empty text.", key=key)
    if entry["type"] not in TYPES:
        return _("the type must be “openai” or “ollama”, not “%(type)s”.", type=entry["type"])
    url = urlsplit(entry["base_url"])
    if url.scheme not in ("http", "https") or not url.hostname:
        return _("“base_url” must be an http:// or https:// address.")
    if "api_key" in entry and "api_key_env" in entry:
        return _("give “api_key” or “api_key_env”, not both.")
    models = entry.get("models", ["unchecked"])
    if not (models and model_names(models)):
        return _("“models” must be a list of model names.")
    vision = entry.get("vision", False)
    if not (isinstance(vision, bool) or model_names(vision)):
        return _("“vision” must be true or false, or a list of model names.")
    for key in SECONDS_KEYS:
        value = entry.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            return _("“%(key)s” must be a number of seconds above zero.", key=key)
    length = entry.get("context_length", 1)
    if isinstance(length, bool) or not isinstance(length, int) or length <= 0:
        return _("“context_length” must be a whole number of tokens above zero.")
    if entry["name"] in taken:
        return _("the name “%(name)s” is already taken.", name=entry["name"])
    return None


def invalid_entry(name, number, entry, taken):
    """The provider listed in place of an entry that cannot be used, saying what is wrong with it."""
    taken = set(taken)
    return Unavailable(
        name,
        lambda: _(
            "The [[providers]] entry #%(number)d cannot be used: %(problem)s",
            number=number,
            problem=entry_problem(entry, taken),
        ),
        code="bad_config",
    )


def build_provider(entry):
    """The provider a valid entry describes; a key named by api_key_env is read from the environment now."""
    key = entry.get("api_key")
    if "api_key_env" in entry:
        key = os.environ.get(entry["api_key_env"])
    return TYPES[entry["type"]](
        entry["name"],
        entry["base_url"],
        api_key=key or None,
        api_key_env=entry.get("api_key_env"),
        models=entry.get("models"),
        context_length=entry.get("context_length"),
        vision=entry.get("vision", False),
        **{k: float(entry[k]) for k in SECONDS_KEYS if k in entry},
    )


def server_provider(entry, config):
    """The provider of a valid entry (of the config file, or a connection from the page), given as long to stay silent
    as its read_timeout: a server given more time to answer than the server-wide idle limit has it."""
    provider = build_provider(entry)
    provider.idle_seconds = max(config["WEBUI_PROVIDER_IDLE_SECONDS"], provider.read_timeout)
    return provider


def register(registry, config):
    """Add a provider for each entry, in order; an entry that cannot be used is listed as unavailable."""
    entries = config.get("WEBUI_PROVIDERS") or []
    if not isinstance(entries, list):
        raise ConfigError("providers must be a list of tables: write each one as [[providers]]")
    taken = {provider.name for provider in registry} | {AUTO}
    for number, entry in enumerate(entries, 1):
        problem = entry_problem(entry, taken)
        if problem is None:
            provider = server_provider(entry, config)
        else:
            log.warning("the [[providers]] entry #%d cannot be used: %s", number, problem)
            own_name = entry.get("name") if isinstance(entry, dict) else None
            usable = isinstance(own_name, str) and own_name.strip() and own_name not in taken
            provider = invalid_entry(own_name if usable else f"[[providers]] #{number}", number, entry, taken)
        taken.add(provider.name)
        registry.register(provider)
