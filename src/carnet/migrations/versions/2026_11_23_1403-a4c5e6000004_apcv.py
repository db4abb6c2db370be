"""apcv contexts

Revision ID: a4c5e6000004
Revises: c3a4d5000003
Create Date: 2026-11-23 14:03:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import carnet.db  # noqa: F401

revision: str = "a4c5e6000004"
down_revision: str | None = "c3a4d5000003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
