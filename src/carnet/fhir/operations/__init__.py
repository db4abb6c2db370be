"""FHIR operations ($match)."""
