"""Languages: English and Russian, chosen by ?lang=, then a cookie, then Accept-Language."""
from pathlib import Path

from babel import Locale
from babel.messages.extract import extract_from_file
from flask import current_app, has_request_context, request
from flask_babel import Babel, get_locale, get_translations
from jinja2 import pass_context

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


def script_strings(static_dir):
    """What the page scripts pass to _() (strings) and to ngettext() ((singular, plural) pairs), read from the scripts
    themselves so they cannot drift."""
    found = {message for path in Path(static_dir).glob("*.js") for _, message, _, _ in extract_from_file("javascript", path)}
    return sorted(m for m in found if isinstance(m, str)), sorted(m for m in found if isinstance(m, tuple))


def script_catalog():
    """The page script's strings in the current language."""
    # Looked up once: Flask-Babel's gettext looks the translations up again for every string.
    translations = get_translations()
    return {msgid: translations.gettext(msgid) for msgid in current_app.extensions["webui.script_msgids"]}


def script_plurals():
    """The page script's messages with plurals in the current language: for each singular msgid, its form for each
    plural category (Intl.PluralRules' names) that a whole number falls in."""
    rule = Locale.parse(str(get_locale())).plural_form
    samples = {}
    for n in range(200):
        samples.setdefault(rule(n), n)
    translations = get_translations()
    return {
        singular: {category: translations.ngettext(singular, plural, n) for category, n in samples.items()}
        for singular, plural in current_app.extensions["webui.script_plurals"]
    }


def template_translations(context):
    """The translations a template renders with, looked up once per template context: Flask-Babel's own _() in
    templates looks them up again for each of the page's strings."""
    found = getattr(context, "webui_translations", None)
    if found is None:
        found = context.webui_translations = get_translations()
    return found


@pass_context
def template_gettext(context, string):
    """_() and gettext() in templates (Jinja's newstyle gettext formats and escapes what this returns)."""
    return template_translations(context).gettext(string)


@pass_context
def template_ngettext(context, singular, plural, n):
    """ngettext() in templates."""
    return template_translations(context).ngettext(singular, plural, n)


def init_app(app, translations_dir, static_dir):
    """Set up Flask-Babel and the catalog handed to the page script."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(translations_dir)
    Babel(app, locale_selector=select_locale)
    app.jinja_env.install_gettext_callables(gettext=template_gettext, ngettext=template_ngettext, newstyle=True)
    app.after_request(remember_choice)
    app.extensions["webui.script_msgids"], app.extensions["webui.script_plurals"] = script_strings(static_dir)
