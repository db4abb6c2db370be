"""insurance rights

Revision ID: b2e4f1000002
Revises: d1a0c7000001
Create Date: 2026-11-23 14:01:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import carnet.db  # noqa: F401

revision: str = "b2e4f1000002"
down_revision: str | None = "d1a0c7000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
