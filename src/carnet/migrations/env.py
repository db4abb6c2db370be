"""Alembic environment: the URL comes from CARNET_DATABASE_URL (or the caller's config)."""

from __future__ import annotations

from alembic import context

from carnet.config import get_settings
from carnet.db import create_db_engine
from carnet.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = create_db_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
