"""Identifier systems of the INS (domain.md §1.2)."""

from __future__ import annotations

OID_INS_NIR = "1.2.250.1.213.1.4.8"
OID_INS_NIA = "1.2.250.1.213.1.4.9"
OID_INS_NIR_TEST = "1.2.250.1.213.1.4.10"
OID_INS_NIR_DEMO = "1.2.250.1.213.1.4.11"

OID_BY_KIND = {"NIR": OID_INS_NIR, "NIA": OID_INS_NIA}
KIND_BY_OID = {
    OID_INS_NIR: "NIR",
    OID_INS_NIA: "NIA",
    OID_INS_NIR_TEST: "NIR",
    OID_INS_NIR_DEMO: "NIR",
}
