"""The provider registry: built-in, configured and drop-in providers behind one interface."""
import importlib.util
import logging
import sys
import threading
import types
from concurrent.futures import ThreadPoolExecutor
from operator import methodcaller
from pathlib import Path

from flask import current_app
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _

from ..errors import UserError
from . import auto, legacy_typing, register_builtins
from .auto import AUTO
from .base import Unavailable
from .dropin import ModuleProvider

log = logging.getLogger(__name__)

# Classic modules lived at g4f/Provider/Providers/<name>.py and import helpers with
# `from ...typing import ...` (some with `..typing`); loading them under a package of
# the same shape lets them run unchanged.
DROPIN_PACKAGE = "webui_dropin.Provider.Providers"

# Providers are described at the same time so that slow servers cost one timeout, not one each;
# the bound keeps a long list of providers from starting a thread per provider.
DESCRIBE_WORKERS = 8


class Registry:
    """Providers by name: those registered, in their order, with the page's connections after the built-ins and `auto`
    over the servers of both, then the rest (the drop-ins), each with the key entered for it on the page, if any.

    The mapping is never changed in place but replaced whole, so a reader going through it sees the providers before a
    change or after it, and an answer keeps the provider it started with to its end.
    """

    def __init__(self, default=None):
        """Start empty; `default` names the provider used when a request names none."""
        self._registered = {}
        # How many registered providers come before the connections and auto; None: all of them, so far.
        self._builtins = None
        self._connections = []
        # The keys of drop-in modules entered on the page, by module name: they win over the config file's.
        self._module_keys = {}
        self._providers = {}
        self._lock = threading.Lock()
        self.default = default

    def register(self, provider):
        """Add a provider; a second provider with a taken name, or one called `auto`, is refused."""
        if provider.name in self._providers or provider.name == AUTO:
            raise ValueError(f"a provider named {provider.name!r} is already registered")
        with self._lock:
            self._registered[provider.name] = provider
            self._compose()

    def end_builtins(self):
        """The providers registered from now on (the drop-ins) come after the connections and `auto`."""
        self._builtins = len(self._registered)

    def set_connections(self, providers):
        """Put `providers` (the page's connections) in place of those set before; one whose name a registered provider
        has is left out."""
        with self._lock:
            self._connections = []
            for provider in providers:
                if provider.name in self._registered or provider.name == AUTO:
                    log.warning("the connection %s is left out: a provider of that name exists", provider.name)
                else:
                    self._connections.append(provider)
            self._compose()

    def set_module_keys(self, keys):
        """Give drop-in modules the keys entered on the page (module name → key) in place of those set before; a module
        without one keeps the key of the config file."""
        with self._lock:
            self._module_keys = dict(keys)
            self._compose()

    def module_keys(self):
        """The keys entered on the page, by module name."""
        return dict(self._module_keys)

    def _keyed(self, provider):
        """A drop-in with the key entered on the page for it, or as it was registered."""
        key = self._module_keys.get(provider.name)
        return provider.with_key(key) if key and isinstance(provider, ModuleProvider) else provider

    def _compose(self):
        """Replace the mapping by the registered providers with the connections and `auto` in their place."""
        registered = list(self._registered.values())
        end = len(registered) if self._builtins is None else self._builtins
        servers = registered[:end] + self._connections
        fallback = auto.over(servers)
        dropins = [self._keyed(provider) for provider in registered[end:]]
        self._providers = {p.name: p for p in [*servers, *([fallback] if fallback else []), *dropins]}

    def registered(self):
        """The providers the server was started with (built-ins and drop-ins), without the connections and `auto`."""
        return list(self._registered.values())

    def get(self, name):
        """Return the provider called `name` (the default when None)."""
        name = name or self.default
        try:
            return self._providers[name]
        except KeyError:
            raise UserError(_("There is no provider called “%(name)s”.", name=name), code="unknown_provider") from None

    def __iter__(self):
        """Iterate over the providers."""
        return iter(self._providers.values())

    def describe(self):
        """The JSON body of /api/providers, in the registry's order; the providers are asked concurrently."""
        default = self.default if self.default in self._providers else next(iter(self._providers), None)
        with ThreadPoolExecutor(max_workers=DESCRIBE_WORKERS, thread_name_prefix="describe") as pool:
            providers = list(pool.map(in_current_app_and_locale(methodcaller("describe")), self))
        return {"default": default, "providers": providers}


def in_current_app_and_locale(function):
    """Wrap `function` to run in any thread with the current app and the current request's language."""
    app = current_app._get_current_object()
    locale = get_locale()

    def run(*args):
        """Call `function` inside its own context of the app, in that language."""
        # Providers run under this context in the chat's threads too, so they never rely on the request itself.
        with app.app_context(), force_locale(locale):
            return function(*args)

    return run


def _dropin_package():
    """Create (once) the package that drop-in modules are loaded into."""
    parts = DROPIN_PACKAGE.split(".")
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = []
            sys.modules[name] = package
        if depth < len(parts):
            sys.modules[name + ".typing"] = legacy_typing
    return DROPIN_PACKAGE


def load_module(path):
    """Import one provider module from a file, fresh each time."""
    name = f"{_dropin_package()}.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    missing = [attr for attr in ("model", "_create_completion") if not hasattr(module, attr)]
    if missing:
        raise ImportError("the module has no " + ", ".join(missing))
    return module


def unloadable(name, filename, error):
    """The provider listed in place of a drop-in module that failed to load, saying which file and why."""
    return Unavailable(
        name,
        lambda: _("%(file)s could not be loaded: %(error)s", file=filename, error=error),
        code="provider_unavailable",
    )


def load_dropins(registry, folder, keys):
    """Register every *.py in `folder` under its file name; a module that fails is listed as broken."""
    for path in sorted(Path(folder).glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            provider = ModuleProvider(path.stem, load_module(path), key=keys.get(path.stem))
        # sys.exit("set FOO first") is how many scripts refuse to run: here it refuses only this module.
        except (Exception, SystemExit) as e:
            log.warning("provider module %s failed to load: %r", path, e)
            provider = unloadable(path.stem, path.name, f"{type(e).__name__}: {e}")
        try:
            registry.register(provider)
        except ValueError as e:
            log.warning("provider module %s skipped: %s", path, e)


def build(config):
    """Build the registry from the settings: built-ins first, then drop-ins; the page's connections are set after
    (connections/providers.py)."""
    registry = Registry(default=config["WEBUI_DEFAULT_PROVIDER"])
    register_builtins(registry, config)
    registry.end_builtins()
    if config.get("WEBUI_PROVIDERS_DIR"):
        load_dropins(registry, config["WEBUI_PROVIDERS_DIR"], config.get("WEBUI_PROVIDER_KEYS") or {})
    return registry


def init_app(app):
    """Build the app's registry."""
    app.extensions["webui.registry"] = build(app.config)


def get_registry():
    """The current app's registry."""
    return current_app.extensions["webui.registry"]


def resolve(chat, registry):
    """Find the provider and model a chat request names, or the defaults."""
    provider = registry.get(chat.provider)
    provider.check()
    models = provider.models()
    model = chat.model or provider.default_model()
    if not model or (models and model not in models):
        raise UserError(
            _("%(provider)s has no model called “%(model)s”.", provider=provider.name, model=model or ""),
            code="unknown_model",
        )
    return provider, model
