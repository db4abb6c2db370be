"""Languages of the web portals: French (default) and English.

Texts are written in French in the templates and the Python code (``_("…")``); the English
catalogue ``locales/en/LC_MESSAGES/messages.po`` translates them. The ``.po`` files are read with
Babel at start-up and compiled in memory: there is no compile step. ``make messages`` re-extracts
the texts and updates both catalogues (``tests/web/test_i18n.py`` fails on a missing English
translation).

The language comes from the ``carnet_lang`` cookie (set by the switch in the header), else from
``Accept-Language``, else French.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LANGUAGE = "fr"
LANGUAGES: dict[str, str] = {"fr": "Français", "en": "English"}
LANGUAGE_COOKIE = "carnet_lang"


@dataclass(frozen=True)
class Language:
    code: str
    translations: gettext.NullTranslations

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)


def catalog_path(code: str) -> Path:
    return LOCALES_DIR / code / "LC_MESSAGES" / "messages.po"


@lru_cache
def language(code: str) -> Language:
    """The translations of a supported language, read from its .po file once per process."""
    if code not in LANGUAGES:
        code = DEFAULT_LANGUAGE
    with catalog_path(code).open("rb") as po:
        catalog = read_po(po, locale=code)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Language(code, Translations(fp=compiled, domain="messages"))


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The page language: the switch's cookie, else the browser's preference, else French."""
    if cookie in LANGUAGES:
        return cookie
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for item in (accept_language or "").split(",")[:20]:
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().split("-")[0].lower()
        if primary not in LANGUAGES:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        # Equal weights: the first listed wins; q=0 means "not this one".
        if q > 0 and q > best_q:
            best, best_q = primary, q
    return best
