"""The medical profile of a health space, stored and served as FHIR R4 resources."""
