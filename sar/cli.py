"""``flask --app portal.app sar worker`` and ``sar purge``."""

from __future__ import annotations

import datetime as dt

import click
from flask import current_app
from flask.cli import AppGroup

from portal.audit import Actor
from portal.database import get_database, transaction, utcnow
from sar import operations as ops
from sar import worker

sar_cli = AppGroup("sar", help="Subject access requests: bundle worker and retention.")
CLI_ACTOR = Actor("cli", "sar")
DEFAULT_RETENTION_DAYS = 30


@sar_cli.command("worker")
@click.option("--once", is_flag=True, help="Stop when the queue is empty.")
@click.option("--lease-seconds", type=click.FloatRange(min=1), default=worker.LEASE.total_seconds(),
              envvar="PORTAL_SAR_LEASE_SECONDS", show_default=True,
              help="After how long a job whose worker stopped mid-build is claimed again "
                   "(keep it above the render time limit).")
def worker_command(once: bool, lease_seconds: float) -> None:
    """Build queued SAR bundles (and remind agencies of late tasks)."""
    worker.run(get_database(current_app).sessionmaker, once=once,
               lease=dt.timedelta(seconds=lease_seconds))


@sar_cli.command("purge")
@click.option("--days", type=click.IntRange(min=0), default=DEFAULT_RETENTION_DAYS,
              envvar="PORTAL_SAR_RETENTION_DAYS", show_default=True,
              help="Days after delivery to keep a bundle (or PORTAL_SAR_RETENTION_DAYS).")
def purge_command(days: int) -> None:
    """Delete delivered bundles older than the retention."""
    retention = days
    with transaction(get_database(current_app).sessionmaker) as session:
        count = ops.purge(session, retention_days=retention, now=utcnow(), actor=CLI_ACTOR)
    click.echo(f"purged {count} bundle(s)")
