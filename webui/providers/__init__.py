"""Built-in providers; each module has register(registry, config)."""
from . import local

BUILTINS = [local]


def register_builtins(registry, config):
    """Let every built-in provider module register what the settings ask for."""
    for module in BUILTINS:
        module.register(registry, config)
