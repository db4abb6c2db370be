"""The shared medical record (DMP): documents of a health space, encrypted at rest."""
