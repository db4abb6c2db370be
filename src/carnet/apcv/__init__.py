"""apCV-like card reading by professional software: contexts, beneficiaries, invoice signatures,
reading history.
"""
