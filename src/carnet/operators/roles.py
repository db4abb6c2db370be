"""The back office's roles and what each may do: the ONE place where this is decided.

Every back-office page asks ``allows(role, permission)`` (through ``carnet.web.backoffice``'s
single check); the CLI and the admin pages accept only the roles named here.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    SEARCH_PERSONS = "search_persons"
    VIEW_CARDS = "view_cards"
    CHANGE_CARDS = "change_cards"  # suspend, revoke, reactivate
    VERIFY_AUDIT = "verify_audit"
    VIEW_DASHBOARD = "view_dashboard"
    MANAGE_OPERATORS = "manage_operators"


_SUPPORT = frozenset({Permission.SEARCH_PERSONS, Permission.VIEW_CARDS})

ROLES: dict[str, frozenset[Permission]] = {
    # Answers the insured: finds a person and reads their card's state.
    "support": _SUPPORT,
    # Support, and changes a card's state (suspend, revoke, reactivate).
    "cards": _SUPPORT | {Permission.CHANGE_CARDS},
    # Checks the audit trail and follows the figures; sees no person.
    "audit": frozenset({Permission.VERIFY_AUDIT, Permission.VIEW_DASHBOARD}),
    # Everything, and manages the operators.
    "admin": frozenset(Permission),
}


def allows(role: str, permission: Permission) -> bool:
    return permission in ROLES.get(role, frozenset())


def permissions_of(role: str) -> frozenset[Permission]:
    return ROLES.get(role, frozenset())
