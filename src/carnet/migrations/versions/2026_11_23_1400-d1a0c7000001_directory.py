"""directory of professionals

Revision ID: d1a0c7000001
Revises: 0cd0b7753f31
Create Date: 2026-11-23 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import carnet.db  # noqa: F401

revision: str = "d1a0c7000001"
down_revision: str | None = "0cd0b7753f31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
