"""Professional identifiers: RPPS number and idNat_PS (domain.md §8.1).

* RPPS: 11 digits. domain.md gives no check-digit rule for it, so none is applied: only the
  length and the digits are checked.
* idNat_PS: a one-digit type prefix then the identifier: ``0`` + ADELI, ``1`` + cabinet
  ADELI/internal, ``3`` + FINESS/internal, ``4`` + SIREN/internal, ``5`` + SIRET/internal, ``6`` +
  cabinet RPPS/internal, ``8`` + RPPS. It is taken as given (it "must not be built/interpreted"),
  with one exception the directory relies on: for an RPPS holder it is exactly ``"8" + RPPS``,
  so the two must agree, and an ``8…`` idNat_PS needs its RPPS.

The functions raise ``ValueError`` with a message naming the field (Pydantic turns it into a 422;
the importer reports it on the line).
"""

from __future__ import annotations

import re

RPPS_PREFIX = "8"
IDNAT_PREFIXES = frozenset("0134568")
_RPPS_RE = re.compile(r"\d{11}")
# The prefix, then letters, digits and the separators seen in internal ids ("3" + FINESS + "/"
# + local number).
_IDNAT_RE = re.compile(r"[0-9][0-9A-Za-z/._-]{1,39}")
_SPACES = re.compile(r"\s+")


def normalise_rpps(raw: str | None) -> str | None:
    """The RPPS number without blanks (``"1001 2345 678"`` is accepted); None when empty."""
    if raw is None:
        return None
    value = _SPACES.sub("", raw)
    if not value:
        return None
    if _RPPS_RE.fullmatch(value) is None:
        raise ValueError(f"rpps: expected 11 digits, got {_shown(value)}")
    return value


def normalise_idnat_ps(raw: str | None) -> str | None:
    """The idNat_PS as given (blanks removed); None when empty."""
    if raw is None:
        return None
    value = _SPACES.sub("", raw)
    if not value:
        return None
    if _IDNAT_RE.fullmatch(value) is None:
        raise ValueError(
            "idnat_ps: expected a type digit then the identifier "
            f"(letters, digits, '/', '.', '_', '-'; 40 characters max), got {_shown(value)}"
        )
    if value[0] not in IDNAT_PREFIXES:
        raise ValueError(
            f"idnat_ps: unknown type prefix {value[0]!r} (expected one of "
            f"{', '.join(sorted(IDNAT_PREFIXES))}; 8 + RPPS for RPPS holders)"
        )
    if value[0] == RPPS_PREFIX and _RPPS_RE.fullmatch(value[1:]) is None:
        raise ValueError("idnat_ps: an idNat_PS of type 8 is '8' followed by the 11-digit RPPS")
    return value


def idnat_for(rpps: str | None, idnat_ps: str | None) -> str:
    """The professional's idNat_PS, checked against the RPPS (both already normalised).

    With an RPPS the idNat_PS is ``"8" + RPPS``: taken as is when given (and then it must be
    that), derived when left empty. Without an RPPS, the idNat_PS is required and may not be of
    the RPPS type.
    """
    if rpps is not None:
        expected = RPPS_PREFIX + rpps
        if idnat_ps is not None and idnat_ps != expected:
            raise ValueError(
                f"idnat_ps: {idnat_ps} does not match the RPPS {rpps} "
                f"(the idNat_PS of an RPPS holder is {expected})"
            )
        return expected
    if idnat_ps is None:
        raise ValueError("rpps or idnat_ps: one of them is required")
    if idnat_ps.startswith(RPPS_PREFIX):
        raise ValueError(
            f"rpps: missing, while the idNat_PS {idnat_ps} is RPPS-based (give the RPPS too)"
        )
    return idnat_ps


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")
