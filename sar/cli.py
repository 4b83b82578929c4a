"""``flask --app portal.app sar worker`` and ``sar purge``."""

from __future__ import annotations

import datetime as dt

import click
from flask import current_app
from flask.cli import AppGroup

from portal import audit
from portal.audit import Actor
from portal.config import Config
from portal.database import get_database, transaction, utcnow
from sar import operations as ops
from sar import worker

sar_cli = AppGroup("sar", help="Subject access requests: bundle worker (and mail), and retention.")
CLI_ACTOR = Actor("cli", "sar")


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
@click.option("--grace-days", type=click.IntRange(min=0), default=None,
              help="Days after a request closes before its raw supplies go "
                   "(default: PORTAL_SAR_RAW_GRACE_DAYS).")
@click.option("--case-days", type=click.IntRange(min=0), default=None,
              help="Days after a request closes that its case file is kept "
                   "(default: PORTAL_SAR_CASE_RETENTION_DAYS).")
def purge_command(grace_days: int | None, case_days: int | None) -> None:
    """Purge closed requests: raw supplies after the grace period, the case file after the
    complaint period; say what was removed, per kind (and audit it)."""
    config: Config = current_app.config["PORTAL"]
    with transaction(get_database(current_app).sessionmaker) as session:
        done = ops.purge(session, now=utcnow(),
                         raw_grace_days=config.sar_raw_grace_days if grace_days is None
                         else grace_days,
                         case_retention_days=config.sar_case_retention_days
                         if case_days is None else case_days, actor=CLI_ACTOR)
        counts = done.counts()
        audit.record(session, "sar.purge_run", CLI_ACTOR, object_type="sar",
                     details=counts)
    requests = counts.pop("requests")
    click.echo(f"purged {requests} request(s): "
               + ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in counts.items()))
