"""Keep the catalogs in step with the code: `python translations/catalogs.py` extracts, merges and compiles."""
import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
LOCALES = ("en", "ru")


def extract():
    """Every translatable string in the Python code, the templates and the page script."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    template = Catalog()
    # `_l` is lazy_gettext: labels built before any request knows its language.
    keywords = {**DEFAULT_KEYWORDS, "_l": None}
    for filename, lineno, message, comments, context in extract_from_dir(ROOT, method_map, options_map, keywords=keywords):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def po_path(locale):
    """Where a locale's catalog lives."""
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def read(locale):
    """Read a locale's catalog."""
    with open(po_path(locale), "rb") as f:
        return read_po(f, locale=locale)


def compiled(catalog):
    """The .mo bytes of a catalog."""
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def translated(message):
    """Whether a message has its translation: every plural form, for one with plurals."""
    forms = message.string if message.pluralizable else [message.string]
    return all(forms)


def refresh():
    """Merge new strings into each catalog (English ones translate to themselves), drop stale ones, compile."""
    for locale in LOCALES:
        path = po_path(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        catalog = read(locale) if path.exists() else Catalog(locale=locale, project="webui", copyright_holder="webui")
        # A fresh template each time: update() adopts the template's message objects.
        catalog.update(extract(), no_fuzzy_matching=True)
        catalog.obsolete.clear()
        catalog.fuzzy = False
        if locale == "en":
            for message in catalog:
                if message.id and not translated(message):
                    message.string = message.id
        with open(path, "wb") as f:
            write_po(f, catalog, width=0, omit_header=False, no_location=True, sort_output=True)
        path.with_suffix(".mo").write_bytes(compiled(catalog))
        missing = [m.id for m in catalog if m.id and not translated(m)]
        for msgid in missing:
            print(f"{locale}: untranslated: {msgid}", file=sys.stderr)


if __name__ == "__main__":
    refresh()
