"""A self-hosted chat UI for language models: create_app() builds the Flask app (app.py) from its settings and its parts.

Importing the package imports nothing else: `webui serve`'s arbiter (serving/arbiter.py) runs modules of it without
the app.
"""


def create_app(config=None):
    """Create the application; `config` overrides every other source of settings."""
    from .app import create_app as build

    return build(config)
