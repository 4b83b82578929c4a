"""Alembic environment: runs against the engine handed over by portal.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import portal.all_models  # noqa: F401 - registers every table
from portal.database import Base

target_metadata = Base.metadata
config = context.config


def run() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite",
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run()
