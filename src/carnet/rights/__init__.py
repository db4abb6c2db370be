"""Health-insurance rights (ADRi-like): coverage periods, special situations, attachment to the
insured person.
"""
