"""Providers: their registry (registry.py, drop-in modules too), their base class (base.py) and the built-in ones.

Each built-in module has register(registry, config). `auto` is made by the registry (auto.over), which remakes it when
the page's connections change.
"""
from . import configured, local

BUILTINS = [local, configured]


def register_builtins(registry, config):
    """Let every built-in provider module register what the settings ask for."""
    for module in BUILTINS:
        module.register(registry, config)
