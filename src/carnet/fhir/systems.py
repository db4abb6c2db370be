"""Canonical URLs, code systems and identifier systems used by the FHIR adapter.

FR Core (hl7.fhir.fr.core, Interop'Santé) canonical base: ``https://hl7.fr/ig/fhir/core``. The
INS identifier systems are the OIDs of domain.md §1.2 (``carnet.identity.oids``).
"""

from __future__ import annotations

from carnet.identity.oids import OID_INS_NIA, OID_INS_NIR

FHIR_VERSION = "4.0.1"
FHIR_JSON = "application/fhir+json"

# -- FR Core ------------------------------------------------------------------------------------
FR_CORE = "https://hl7.fr/ig/fhir/core"
PROFILE_PATIENT_INS = f"{FR_CORE}/StructureDefinition/fr-core-patient-ins"
PROFILE_PATIENT = f"{FR_CORE}/StructureDefinition/fr-core-patient"
EXT_IDENTITY_RELIABILITY = f"{FR_CORE}/StructureDefinition/fr-core-identity-reliability"
EXT_BIRTH_LIST_GIVEN_NAME = f"{FR_CORE}/StructureDefinition/fr-core-patient-birth-list-given-name"
EXT_ADDRESS_INSEE_CODE = f"{FR_CORE}/StructureDefinition/fr-core-address-insee-code"
CS_IDENTIFIER_TYPE = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
CS_IDENTITY_STATUS = f"{FR_CORE}/CodeSystem/fr-core-cs-identity-status"
CS_METHOD_COLLECTION = f"{FR_CORE}/CodeSystem/fr-core-cs-method-collection"

# -- ANS terminologies (NOS) for the INSEE codes of the birth place ------------------------------
# Communes (TRE_R13, the system FR Core binds fr-core-address-insee-code to) and countries
# (TRE_R20, whose codes are the INSEE 99xxx country codes).
CS_INSEE_COMMUNE = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
CS_INSEE_COUNTRY = "https://mos.esante.gouv.fr/NOS/TRE_R20-Pays/FHIR/TRE-R20-Pays"

# -- HL7 core -----------------------------------------------------------------------------------
EXT_BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
EXT_MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
OPERATION_PATIENT_MATCH = "http://hl7.org/fhir/OperationDefinition/Patient-match"
CS_AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
CS_RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
CS_AUDIT_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
CS_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
CS_AUDIT_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
CS_DICOM = "http://dicom.nema.org/resources/ontology/DCM"
CS_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
CS_RESTFUL_SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
EXT_OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"

# -- INS identifier systems ---------------------------------------------------------------------
SYSTEM_INS_NIR = f"urn:oid:{OID_INS_NIR}"
SYSTEM_INS_NIA = f"urn:oid:{OID_INS_NIA}"
KIND_BY_SYSTEM = {SYSTEM_INS_NIR: "NIR", SYSTEM_INS_NIA: "NIA"}
SYSTEM_BY_KIND = {"NIR": SYSTEM_INS_NIR, "NIA": SYSTEM_INS_NIA}

# -- Carnet's own systems -----------------------------------------------------------------------
SYSTEM_OAUTH_CLIENT = "urn:carnet:oauth-client"
# idNat_PS, the national identifier of health professionals ("8" + RPPS), domain.md §8.
SYSTEM_IDNAT_PS = "urn:oid:1.2.250.1.71.4.2.1"
CS_AUDIT_ACTION = "urn:carnet:audit-action"
CS_INSI_RESPONSE = "urn:carnet:insi-response-code"
