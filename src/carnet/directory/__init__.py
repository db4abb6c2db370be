"""Directory of health professionals (RPPS, idNat_PS, profession, specialty, places of practice)."""
