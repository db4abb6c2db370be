"""Code systems, value sets and units the medical profile accepts (its own binding checks).

``fhir.resources`` checks structure (types, cardinality, unknown elements) but no binding: every
coded element the profile relies on is checked here against the FHIR R4 required value sets,
the vital-signs LOINC codes with their UCUM units, and the code systems a French holder's or
professional's software uses (SNOMED CT, LOINC, CIM-10/ICD-10, CCAM, ATC, BDPM/CIS, CIP/UCD, CVX).
"""

from __future__ import annotations

from dataclasses import dataclass

# -- profile resource types ---------------------------------------------------------------------
# Hospitalisations are Encounters (class IMP, ACUTE, NONAC, SS or EMER, with the stay's period);
# advance directives are Consents (scope adr, category LOINC 75320-2) so that DocumentReference
# stays the documents domain's; people to contact are RelatedPersons.
RESOURCE_TYPES = (
    "Condition",
    "Procedure",
    "Encounter",
    "MedicationStatement",
    "AllergyIntolerance",
    "Immunization",
    "Observation",
    "Consent",
    "RelatedPerson",
)

# The element naming the patient, per type.
SUBJECT_ELEMENT = {
    "Condition": "subject",
    "Procedure": "subject",
    "Encounter": "subject",
    "MedicationStatement": "subject",
    "AllergyIntolerance": "patient",
    "Immunization": "patient",
    "Observation": "subject",
    "Consent": "patient",
    "RelatedPerson": "patient",
}

# -- code systems --------------------------------------------------------------------------------
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
CIM10 = "https://smt.esante.gouv.fr/terminologie-cim-10"
CCAM = "https://smt.esante.gouv.fr/terminologie-ccam"
ATC = "http://www.whocc.no/atc"
ATC_SMT = "https://smt.esante.gouv.fr/terminologie-atc"
BDPM = "https://smt.esante.gouv.fr/terminologie-bdpm"
CIP_UCD = "https://smt.esante.gouv.fr/terminologie-cip_ucd"
CVX = "http://hl7.org/fhir/sid/cvx"
CS_CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CS_CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CS_CONDITION_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CS_ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
CS_ALLERGY_VER = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
CS_OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CS_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CS_CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
CS_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
CS_CONTACT_ROLE_V2 = "http://terminology.hl7.org/CodeSystem/v2-0131"
# Carnet's own: the "personne de confiance" (CSP L1111-6), which no international system names.
CS_CARNET_CONTACT_ROLE = "urn:carnet:contact-role"

# What the main code of each type may be coded with (a text-only CodeableConcept is accepted too:
# a holder types "asthme" without knowing SNOMED CT).
CODE_SYSTEMS = {
    "Condition": frozenset({SNOMED, ICD10, CIM10}),
    "Procedure": frozenset({SNOMED, CCAM}),
    "MedicationStatement": frozenset({ATC, ATC_SMT, BDPM, CIP_UCD, SNOMED}),
    "AllergyIntolerance": frozenset({SNOMED, ATC, ATC_SMT, BDPM}),
    "Immunization": frozenset({CVX, SNOMED, ATC, ATC_SMT, BDPM, CIP_UCD}),
}

# -- required value sets (FHIR R4) ---------------------------------------------------------------
STATUS = {
    "Procedure": frozenset(
        {
            "preparation",
            "in-progress",
            "not-done",
            "on-hold",
            "stopped",
            "completed",
            "entered-in-error",
            "unknown",
        }
    ),
    "Encounter": frozenset(
        {
            "planned",
            "arrived",
            "triaged",
            "in-progress",
            "onleave",
            "finished",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    "MedicationStatement": frozenset(
        {
            "active",
            "completed",
            "entered-in-error",
            "intended",
            "stopped",
            "on-hold",
            "unknown",
            "not-taken",
        }
    ),
    "Immunization": frozenset({"completed", "entered-in-error", "not-done"}),
    "Observation": frozenset(
        {
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    "Consent": frozenset(
        {"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"}
    ),
}
CONDITION_CATEGORIES = frozenset({"problem-list-item", "encounter-diagnosis"})
CONDITION_CLINICAL = frozenset(
    {"active", "recurrence", "relapse", "inactive", "remission", "resolved"}
)
CONDITION_VERIFICATION = frozenset(
    {"unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"}
)
ALLERGY_CLINICAL = frozenset({"active", "inactive", "resolved"})
ALLERGY_VERIFICATION = frozenset({"unconfirmed", "confirmed", "refuted", "entered-in-error"})
ALLERGY_TYPE = frozenset({"allergy", "intolerance"})
ALLERGY_CATEGORY = frozenset({"food", "medication", "environment", "biologic"})
ALLERGY_CRITICALITY = frozenset({"low", "high", "unable-to-assess"})
REACTION_SEVERITY = frozenset({"mild", "moderate", "severe"})
# Encounter classes that are a stay in hospital (or an emergency visit).
HOSPITAL_CLASSES = frozenset({"IMP", "ACUTE", "NONAC", "SS", "EMER"})
GENDERS = frozenset({"male", "female", "other", "unknown"})
TELECOM_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})
TELECOM_USES = frozenset({"home", "work", "temp", "old", "mobile"})
# Advance directives: Consent.scope adr, category LOINC 75320-2 "Advance directive".
CONSENT_SCOPE_ADR = "adr"
LOINC_ADVANCE_DIRECTIVE = "75320-2"
ADVANCE_DIRECTIVE_RULE = "Code de la santé publique, art. L1111-11 (directives anticipées)"
CONTACT_ROLES = {
    CS_ROLE_CODE: frozenset(
        {
            "FAMMEMB",
            "CHILD",
            "SON",
            "DAU",
            "PRN",
            "MTH",
            "FTH",
            "SIB",
            "BRO",
            "SIS",
            "SPS",
            "HUSB",
            "WIFE",
            "DOMPART",
            "GRPRN",
            "GRNDCHILD",
            "AUNT",
            "UNCLE",
            "COUSN",
            "NEPHEW",
            "NIECE",
            "FRND",
            "NBOR",
            "ROOM",
            "GUARD",
            "POWATT",
            "HPOWATT",
            "SPOWATT",
            "NOK",
        }
    ),
    CS_CONTACT_ROLE_V2: frozenset({"C", "N", "E", "CP", "EP", "O", "U"}),
    CS_CARNET_CONTACT_ROLE: frozenset({"trusted-person"}),
}


# -- vital signs ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VitalSign:
    code: str
    label: str
    units: frozenset[str]  # UCUM codes (plausible values per unit: ``RANGES``)
    categories: frozenset[str] = frozenset({"vital-signs"})


BODY_WEIGHT = "29463-7"
BODY_HEIGHT = "8302-2"
BLOOD_PRESSURE = "85354-9"
SYSTOLIC = "8480-6"
DIASTOLIC = "8462-4"
GLUCOSE_MASS = "2339-0"
GLUCOSE_MOLES = "15074-8"
BMI = "39156-5"
HEART_RATE = "8867-4"

VITAL_SIGNS = {
    BODY_WEIGHT: VitalSign(BODY_WEIGHT, "Body weight", frozenset({"kg", "g"})),
    BODY_HEIGHT: VitalSign(BODY_HEIGHT, "Body height", frozenset({"cm", "m"})),
    BLOOD_PRESSURE: VitalSign(BLOOD_PRESSURE, "Blood pressure", frozenset()),
    GLUCOSE_MASS: VitalSign(
        GLUCOSE_MASS,
        "Glucose [Mass/volume] in Blood",
        frozenset({"mg/dL", "g/L"}),
        frozenset({"vital-signs", "laboratory"}),
    ),
    GLUCOSE_MOLES: VitalSign(
        GLUCOSE_MOLES,
        "Glucose [Moles/volume] in Blood",
        frozenset({"mmol/L"}),
        frozenset({"vital-signs", "laboratory"}),
    ),
    BMI: VitalSign(BMI, "Body mass index", frozenset({"kg/m2"})),
    HEART_RATE: VitalSign(HEART_RATE, "Heart rate", frozenset({"/min"})),
}
BP_COMPONENTS = {SYSTOLIC: "Systolic blood pressure", DIASTOLIC: "Diastolic blood pressure"}

# Plausible values per (code, UCUM unit): a typo (70 g for 70 kg, 1.75 cm) is refused.
RANGES: dict[tuple[str, str], tuple[float, float]] = {
    (BODY_WEIGHT, "kg"): (0.2, 650),
    (BODY_WEIGHT, "g"): (200, 650_000),
    (BODY_HEIGHT, "cm"): (20, 280),
    (BODY_HEIGHT, "m"): (0.2, 2.8),
    (SYSTOLIC, "mm[Hg]"): (40, 300),
    (DIASTOLIC, "mm[Hg]"): (20, 200),
    (GLUCOSE_MASS, "mg/dL"): (10, 1500),
    (GLUCOSE_MASS, "g/L"): (0.1, 15),
    (GLUCOSE_MOLES, "mmol/L"): (0.5, 85),
    (BMI, "kg/m2"): (5, 150),
    (HEART_RATE, "/min"): (15, 350),
}

# Code formats per system (a typo in a code is caught even without the terminology at hand).
CODE_FORMATS = {
    SNOMED: r"\d{6,18}",
    LOINC: r"\d{1,7}-\d",
    ICD10: r"[A-Z]\d{2}(\.?[0-9A-Z]{1,4})?",
    CIM10: r"[A-Z]\d{2}(\.?[0-9A-Z+]{1,5})?",
    CCAM: r"[A-Z]{4}\d{3}",
    ATC: r"[A-Z](\d{2}([A-Z]([A-Z](\d{2})?)?)?)?",
    ATC_SMT: r"[A-Z](\d{2}([A-Z]([A-Z](\d{2})?)?)?)?",
    BDPM: r"\d{8}",
    CIP_UCD: r"\d{7}|\d{13}",
    CVX: r"\d{1,3}",
}
