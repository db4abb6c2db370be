"""back-office operators

Revision ID: e1f2a300000b
Revises: d0e1f200000a
Create Date: 2026-11-23 17:07:00
"""

from collections.abc import Sequence

revision: str = "e1f2a300000b"
down_revision: str | None = "d0e1f200000a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
