"""professionals' web sign-in

Revision ID: d0e1f200000a
Revises: c9d0e1000009
Create Date: 2026-11-23 17:06:00
"""

from collections.abc import Sequence

revision: str = "d0e1f200000a"
down_revision: str | None = "c9d0e1000009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
