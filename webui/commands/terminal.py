"""What a command runs in: the app built from its settings, speaking the terminal's language."""
import os
from contextlib import contextmanager

import click
from flask_babel import force_locale

from ..app import create_app
from ..config import ConfigError
from ..i18n import LANGUAGES


def terminal_language():
    """The terminal's language (LC_ALL, LC_MESSAGES, LANG) when the app speaks it, else English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if os.environ.get(name):
            language = os.environ[name].split(".")[0].split("_")[0]
            return language if language in LANGUAGES else "en"
    return "en"


def build_app(overrides):
    """Create the app, turning a bad setting into a message instead of a trace; outside a request it speaks the
    terminal's language."""
    try:
        return create_app({"BABEL_DEFAULT_LOCALE": terminal_language(), **overrides})
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


@contextmanager
def terminal(app):
    """An app context speaking the terminal's language, for messages outside a request."""
    with app.app_context(), force_locale(terminal_language()):
        yield
