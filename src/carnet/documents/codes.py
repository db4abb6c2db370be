"""The DMP document classification (domain.md §5.3): classCode and typeCode with their labels.

- classCode: JDV_J06-XdsClassCode-CISIS (OID 1.2.250.1.213.1.1.5.462), codes of TRE_A03.
- typeCode: JDV_J07-XdsTypeCode-CISIS (OID 1.2.250.1.213.1.1.5.471; DMP subset JDV_J66), LOINC
  codes and ANS codes. The subset below is the one domain.md lists; the full value sets are
  published by the ANS (NOS) and can be added here as data.

The list is served at ``GET /api/v1/document-codes``: an unknown code is refused with a 422
that points there.
"""

from __future__ import annotations

from dataclasses import dataclass

CLASS_CODE_OID = "1.2.250.1.213.1.1.5.462"
TYPE_CODE_OID = "1.2.250.1.213.1.1.5.471"
LOINC = "http://loinc.org"
CLASS_SYSTEM = f"urn:oid:{CLASS_CODE_OID}"
# ANS (non-LOINC) type codes are given with the value set's OID as their system.
ANS_TYPE_SYSTEM = f"urn:oid:{TYPE_CODE_OID}"
CODES_URL = "/api/v1/document-codes"


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    label: str
    system: str


CLASS_CODES: dict[str, Code] = {
    c.code: c
    for c in (
        Code("10", "Compte rendu", CLASS_SYSTEM),
        Code("11", "Synthèse", CLASS_SYSTEM),
        Code("31", "Imagerie médicale", CLASS_SYSTEM),
        Code("42", "Prescription", CLASS_SYSTEM),
        Code("43", "Dispensation", CLASS_SYSTEM),
        Code("44", "Plan de soins, protocole de soins", CLASS_SYSTEM),
        Code("45", "Traitement administré", CLASS_SYSTEM),
        Code("52", "Certificat, déclaration", CLASS_SYSTEM),
        Code("60", "Données de remboursement", CLASS_SYSTEM),
        Code("90", "Autres documents déposés par le patient", CLASS_SYSTEM),
        Code("95", "Document de gestion", CLASS_SYSTEM),
        Code("99", "Document technique", CLASS_SYSTEM),
    )
}

TYPE_CODES: dict[str, Code] = {
    c.code: c
    for c in (
        Code("11490-0", "Lettre de liaison à la sortie d'un établissement de soins", LOINC),
        Code("11502-2", "Compte rendu d'examens de biologie médicale", LOINC),
        Code("18748-4", "Compte rendu d'imagerie médicale", LOINC),
        Code("34133-9", "Synthèse d'épisode de soins", LOINC),
        Code("60591-5", "Synthèse médicale (volet de synthèse médicale)", LOINC),
        Code("57833-6", "Prescription de produits de santé", LOINC),
        Code("57832-8", "Prescription de soins", LOINC),
        Code("60593-1", "Dispensation médicamenteuse", LOINC),
        Code("11369-6", "Historique des vaccinations", LOINC),
        Code("87273-9", "Note de vaccination", LOINC),
        Code("15507-7", "Compte rendu de passage aux urgences", LOINC),
        Code("34874-8", "Compte rendu opératoire", LOINC),
        Code("89601-9", "Certificat médical", LOINC),
        Code("96874-3", "Certificat de vaccination COVID-19", LOINC),
        Code("57057-5", "Synthèse d'accouchement", LOINC),
        Code("DOCPAT01", "Synthèse (déposée par le patient)", ANS_TYPE_SYSTEM),
        Code("DOCPAT02", "Traitement (déposé par le patient)", ANS_TYPE_SYSTEM),
        Code("DOCPAT03", "Compte rendu (déposé par le patient)", ANS_TYPE_SYSTEM),
        Code("DOCPAT04", "Imagerie (déposée par le patient)", ANS_TYPE_SYSTEM),
        Code("DOCPAT05", "Biologie (déposée par le patient)", ANS_TYPE_SYSTEM),
        Code("DOCPAT06", "Prévention (déposée par le patient)", ANS_TYPE_SYSTEM),
        Code("DOCPAT07", "Certificat (déposé par le patient)", ANS_TYPE_SYSTEM),
        Code("DOCPAT08", "Profil médical Mon Espace Santé", ANS_TYPE_SYSTEM),
        Code("DOCPAT09", "Document administratif (déposé par le patient)", ANS_TYPE_SYSTEM),
        Code("EXPPAT_3", "Directives anticipées", ANS_TYPE_SYSTEM),
        Code("PROT_ALD", "Protocole de soins ALD", ANS_TYPE_SYSTEM),
        Code("REMB", "Données de remboursement", ANS_TYPE_SYSTEM),
        Code("PRESC-BIO", "Prescription d'actes de biologie médicale", ANS_TYPE_SYSTEM),
        Code("PRESC-KINE", "Prescription d'actes de kinésithérapie", ANS_TYPE_SYSTEM),
        Code("PRESC-INF", "Prescription d'actes infirmiers", ANS_TYPE_SYSTEM),
        Code("PIECE-IDENTITE", "Pièce d'identité", ANS_TYPE_SYSTEM),
    )
}
