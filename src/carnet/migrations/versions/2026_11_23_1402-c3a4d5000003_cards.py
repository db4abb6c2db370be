"""digital cards

Revision ID: c3a4d5000003
Revises: b2e4f1000002
Create Date: 2026-11-23 14:02:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import carnet.db  # noqa: F401

revision: str = "c3a4d5000003"
down_revision: str | None = "b2e4f1000002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
