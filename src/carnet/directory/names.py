"""Professionals' names: cleaning what a file gives, and the key a name search compares."""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_LENGTH = 100
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")
# Ligatures NFKD leaves alone.
_LIGATURES = str.maketrans({"Œ": "OE", "Æ": "AE", "ß": "SS"})


def clean_name(raw: str, *, field: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """The name as written, blanks trimmed and collapsed; ``ValueError`` when unusable."""
    if _CONTROL_RE.search(raw):
        raise ValueError(f"{field}: control characters are not allowed")
    value = " ".join(raw.split())
    if not value:
        raise ValueError(f"{field}: must not be empty")
    if len(value) > max_length:
        raise ValueError(f"{field}: too long ({len(value)} characters, max {max_length})")
    return value


def name_key(value: str) -> str:
    """Upper case, accents and punctuation removed: "d'Artagnan-Lefèvre" → "D ARTAGNAN LEFEVRE"."""
    upper = value.upper().translate(_LIGATURES)
    decomposed = unicodedata.normalize("NFKD", upper)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    # Capped like the column: an expanded ligature may lengthen a name of maximal length.
    return " ".join(_NOT_ALNUM.sub(" ", letters).split())[:MAX_NAME_LENGTH]
