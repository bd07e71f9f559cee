"""Built-in providers; each module has register(registry, config)."""
from . import auto, configured, local

# auto goes last: it falls back over the providers registered before it.
BUILTINS = [local, configured, auto]


def register_builtins(registry, config):
    """Let every built-in provider module register what the settings ask for."""
    for module in BUILTINS:
        module.register(registry, config)
