"""FHIR resources built from the register and the audit trail."""
