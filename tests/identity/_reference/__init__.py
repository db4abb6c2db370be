"""Frozen copies of the register-record validation as it was before the speed-up (2026-11).

Used only by ``tests/identity/test_validation_equivalence.py`` to prove that the optimised
``carnet.identity`` code returns the same values and raises the same errors (codes, messages and
details) as the original on the same inputs. Do not edit these files to follow later changes of
behaviour: a deliberate change of behaviour must update the equivalence test instead.
"""
