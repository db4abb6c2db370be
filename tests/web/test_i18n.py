"""Every text of the portals is translated: the texts marked in the templates and the web code
must all have an English translation (French is the source language)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from carnet.web import i18n

WEB = Path(i18n.__file__).parent


def _marked_texts() -> set[str]:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"trim_blocks": "true", "lstrip_blocks": "true"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "_t": (2,)}
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB), method_map, options, keywords=keywords
    ):
        found.update([message] if isinstance(message, str) else message)
    return found


def test_texts_are_found() -> None:
    texts = _marked_texts()
    assert "Ma carte" in texts  # a template text
    assert "Formulaire expiré" in texts  # a Python text


def test_every_text_has_an_english_translation() -> None:
    with i18n.catalog_path("en").open("rb") as po:
        catalog = read_po(po, locale="en")
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(_marked_texts() - translated)
    assert missing == [], f"add to {i18n.catalog_path('en')} (make messages): {missing}"


def test_french_catalog_lists_the_same_texts() -> None:
    with i18n.catalog_path("fr").open("rb") as po:
        catalog = read_po(po, locale="fr")
    assert _marked_texts() <= {m.id for m in catalog if m.id}


def test_translations_are_used() -> None:
    assert i18n.language("en").gettext("Ma carte") == "My card"
    assert i18n.language("fr").gettext("Ma carte") == "Ma carte"
    assert i18n.language("de").code == "fr"
