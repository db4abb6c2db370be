"""Code tables of the directory: professions (TRE_G15) and ordinal specialties (TRE_R38).

Shipped as small tables (ANS nomenclatures, labels as published, the "(SM)"/"(SCD)" suffix of the
TRE_R38 labels dropped). The profession is a closed list: an unknown code is an error, since it
decides who is a health professional. A specialty is a free code: an unknown one is stored
without a label (TRE_R38 grows every year; refusing a new specialty would block a whole import).
"""

from __future__ import annotations

PROFESSION_SYSTEM = (
    "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
)
SPECIALTY_SYSTEM = (
    "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
)

# TRE_G15-ProfessionSante, active codes (domain.md §8.1). The codes 35-39 (aide-soignant,
# ambulancier, auxiliaire de puériculture, préparateurs en pharmacie) were deprecated in 2024
# and are not accepted. 93 Psychologue is marked deprecated in TRE_G15 itself (kept for the
# SESAM-Vitale code lists) but is still what psychologists' cards and billing carry: accepted.
PROFESSIONS: dict[str, str] = {
    "10": "Médecin",
    "21": "Pharmacien",
    "26": "Audioprothésiste",
    "28": "Opticien-lunetier",
    "31": "Assistant dentaire",
    "32": "Physicien médical",
    "40": "Chirurgien-dentiste",
    "50": "Sage-femme",
    "60": "Infirmier",
    "69": "Infirmier psychiatrique",
    "70": "Masseur-kinésithérapeute",
    "80": "Pédicure-podologue",
    "81": "Orthoprothésiste",
    "82": "Podo-orthésiste",
    "83": "Orthopédiste-orthésiste",
    "84": "Oculariste",
    "85": "Épithésiste",
    "86": "Technicien de laboratoire médical",
    "91": "Orthophoniste",
    "92": "Orthoptiste",
    "93": "Psychologue",
    "94": "Ergothérapeute",
    "95": "Diététicien",
    "96": "Psychomotricien",
    "98": "Manipulateur d'électroradiologie médicale",
}

# TRE_R38-SpecialiteOrdinale: the specialties most often met (dentists SCD, physicians SM).
SPECIALTIES: dict[str, str] = {
    "SCD01": "Orthopédie dento-faciale",
    "SCD02": "Chirurgie orale",
    "SCD03": "Médecine bucco-dentaire",
    "SM01": "Anatomie et cytologie pathologiques",
    "SM02": "Anesthésie-réanimation",
    "SM03": "Biologie médicale",
    "SM04": "Cardiologie et maladies vasculaires",
    "SM05": "Chirurgie générale",
    "SM06": "Chirurgie maxillo-faciale",
    "SM07": "Chirurgie maxillo-faciale et stomatologie",
    "SM08": "Chirurgie orthopédique et traumatologie",
    "SM09": "Chirurgie infantile",
    "SM10": "Chirurgie plastique reconstructrice et esthétique",
    "SM11": "Chirurgie thoracique et cardio-vasculaire",
    "SM12": "Chirurgie urologique",
    "SM13": "Chirurgie vasculaire",
    "SM14": "Chirurgie viscérale et digestive",
    "SM15": "Dermatologie et vénéréologie",
    "SM16": "Endocrinologie et métabolisme",
    "SM17": "Génétique médicale",
    "SM18": "Gériatrie",
    "SM19": "Gynécologie médicale",
    "SM20": "Gynécologie-obstétrique",
    "SM21": "Hématologie",
    "SM24": "Gastro-entérologie et hépatologie",
    "SM25": "Médecine du travail",
    "SM26": "Qualifié en médecine générale",
    "SM27": "Médecine interne",
    "SM28": "Médecine nucléaire",
    "SM29": "Médecine physique et de réadaptation",
    "SM30": "Néphrologie",
    "SM31": "Neuro-chirurgie",
    "SM32": "Neurologie",
    "SM34": "ORL et chirurgie cervico-faciale",
    "SM36": "Oncologie, option médicale",
    "SM38": "Ophtalmologie",
    "SM39": "Oto-rhino-laryngologie",
    "SM40": "Pédiatrie",
    "SM41": "Pneumologie",
    "SM42": "Psychiatrie",
    "SM43": "Psychiatrie, option enfant et adolescent",
    "SM44": "Radio-diagnostic",
    "SM45": "Radio-thérapie",
    "SM46": "Médecine intensive-réanimation",
    "SM48": "Rhumatologie",
    "SM49": "Santé publique et médecine sociale",
    "SM50": "Stomatologie",
    "SM53": "Spécialiste en médecine générale",
    "SM54": "Médecine générale",
    "SM55": "Radio-diagnostic et radio-thérapie",
    "SM56": "Chirurgie orale",
    "SM57": "Allergologie",
    "SM58": "Maladies infectieuses et tropicales",
    "SM59": "Médecine d'urgence",
    "SM60": "Médecine légale et expertises médicales",
    "SM61": "Médecine vasculaire",
    "SM62": "Endocrinologie, diabétologie, nutrition",
}


def profession_label(code: str) -> str | None:
    return PROFESSIONS.get(code)


def specialty_label(code: str | None) -> str | None:
    return SPECIALTIES.get(code) if code is not None else None
