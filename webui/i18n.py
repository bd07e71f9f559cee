"""Languages: English and Russian, chosen by ?lang=, then a cookie, then Accept-Language."""
from pathlib import Path

from babel.messages.extract import extract_from_file
from flask import current_app, has_request_context, request
from flask_babel import Babel, gettext

LANGUAGES = {"en": "English", "ru": "Русский"}
COOKIE = "webui_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600


def select_locale():
    """Pick the page's language for this request; outside one (a background thread, a command) the default language."""
    if not has_request_context():
        return None
    for choice in (request.args.get("lang"), request.cookies.get(COOKIE)):
        if choice in LANGUAGES:
            return choice
    return request.accept_languages.best_match(LANGUAGES, default="en")


def remember_choice(response):
    """Keep a language picked with ?lang= in a cookie."""
    choice = request.args.get("lang")
    if choice in LANGUAGES and request.cookies.get(COOKIE) != choice:
        response.set_cookie(COOKIE, choice, max_age=COOKIE_MAX_AGE, httponly=True, samesite="Lax")
    return response


def script_msgids(static_dir):
    """The strings the page scripts pass to _(), read from the scripts themselves so they cannot drift."""
    return sorted(
        {
            message
            for path in Path(static_dir).glob("*.js")
            for _, message, _, _ in extract_from_file("javascript", path)
            if isinstance(message, str)
        }
    )


def script_catalog():
    """The page script's strings in the current language."""
    return {msgid: gettext(msgid) for msgid in current_app.extensions["webui.script_msgids"]}


def init_app(app, translations_dir, static_dir):
    """Set up Flask-Babel and the catalog handed to the page script."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(translations_dir)
    Babel(app, locale_selector=select_locale)
    app.after_request(remember_choice)
    app.extensions["webui.script_msgids"] = script_msgids(static_dir)
