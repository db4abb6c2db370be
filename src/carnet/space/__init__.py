"""The personal health space ("Mon Espace Santé"): one per person, its opt-out lifecycle."""
