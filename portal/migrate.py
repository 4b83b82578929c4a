"""Run Alembic migrations programmatically against an engine."""

from __future__ import annotations

from pathlib import Path

import click
from alembic import command
from alembic.config import Config as AlembicConfig
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import Engine

from portal import migrate
from portal.database import get_database

db_cli = AppGroup("db", help="Database schema (Alembic migrations).")



MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(engine: Engine) -> AlembicConfig:
    """An Alembic config bound to this engine."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema."""
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade the schema."""
    command.downgrade(alembic_config(engine), revision)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Upgrade the database schema to REVISION (default: head)."""
    migrate.upgrade(get_database(current_app).engine, revision)
    click.echo(f"database at {revision}")


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Downgrade the database schema to REVISION."""
    migrate.downgrade(get_database(current_app).engine, revision)
    click.echo(f"database at {revision}")


