"""The bundle worker: claims queued builds from the job table, renders them, reports failures,
and sends the mail outbox (``portal.outbox``) between jobs.

On PostgreSQL jobs are claimed with ``FOR UPDATE SKIP LOCKED`` so several workers may run; on
SQLite run one worker. A claim is a lease: a job whose worker died mid-build (SIGKILL, out of
memory, a lost host) is claimed again once the lease has run out, and only the worker holding
the current claim may record the result.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid

from flask import current_app
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from portal import audit, outbox
from portal.audit import SYSTEM
from portal.config import Config
from portal.database import transaction, utcnow
from portal.pdf import render_pdf_isolated
from sar import bundle as bundle_module
from sar import clock, notify
from sar import operations as ops
from sar.models import SarBundle

log = logging.getLogger("sar.worker")
RENDER_TIMEOUT_S = 300
# What the renderer may grow by. The child's limit is on its address space (RLIMIT_AS), which
# starts at whatever the forking process had mapped: the budget is added to that.
RENDER_MEMORY_MB = 1024
# A live worker finishes or fails a job well within this (the renderer is killed at
# RENDER_TIMEOUT_S); a job "running" for longer was left by a worker that died (SIGKILL, a
# lost host), and another worker takes it over rather than leaving it stuck for ever.
LEASE = dt.timedelta(seconds=2 * RENDER_TIMEOUT_S)


def claim(session: Session, *, lease: dt.timedelta = LEASE) -> SarBundle | None:
    """Take the oldest queued job, or one whose worker's lease ran out, and mark it running
    (skipping jobs other workers hold); its ``started_at`` is the claim's token."""
    now = utcnow()
    abandoned = and_(SarBundle.state == "running", SarBundle.started_at < now - lease)
    stmt = (select(SarBundle).where(or_(SarBundle.state == "queued", abandoned))
            .order_by(SarBundle.created_at).limit(1))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    job = session.scalars(stmt).first()
    if job is None:
        return None
    if job.state == "running":
        log.warning("claiming a bundle job whose worker stopped mid-build",
                    extra={"job": str(job.id), "claimed_at": str(job.started_at)})
    job.state = "running"
    job.started_at = now
    job.progress = 5
    session.flush()
    return job


def _still_ours(session: Session, job_id: uuid.UUID, claimed_at: dt.datetime | None
                ) -> SarBundle | None:
    """The job, locked, if this worker's claim is still the current one."""
    job = session.get(SarBundle, job_id, with_for_update=True)
    if job is None or (claimed_at is not None
                       and (job.state != "running" or job.started_at != claimed_at)):
        return None
    return job


def _progress(factory: sessionmaker[Session], job_id: uuid.UUID, percent: int) -> None:
    with transaction(factory) as session:
        job = session.get(SarBundle, job_id)
        if job is not None:
            job.progress = percent


def build(factory: sessionmaker[Session], job_id: uuid.UUID,
          claimed_at: dt.datetime | None = None) -> str:
    """Render one claimed job; return its final state ("built" or "failed"), or
    "superseded" when its lease ran out and another worker claimed it meanwhile."""
    try:
        with transaction(factory) as session:
            job = session.get(SarBundle, job_id)
            if job is None:
                return "failed"
            sar = job.request
            page = bundle_module.html(session, sar)
            zipped = bundle_module.archive(session, sar)
            withheld = json.dumps(bundle_module.manifest(session, sar), sort_keys=True)
        _progress(factory, job_id, 30)
        pdf, pages = render_pdf_isolated(page, pdf_variant="pdf/ua-1", timeout=RENDER_TIMEOUT_S,
                                         memory_mb=RENDER_MEMORY_MB)
        with transaction(factory) as session:
            job = _still_ours(session, job_id, claimed_at)
            if job is None:
                return "superseded" if claimed_at is not None else "failed"
            job.pdf, job.archive, job.pages = pdf, zipped, pages
            job.manifest = withheld
            job.state, job.progress, job.finished_at = "built", 100, utcnow()
            audit.record(session, "sar.bundle_built", SYSTEM, subject_id=job.request.subject_id,
                         object_type="sar_bundle", object_id=str(job.id),
                         details={"pages": pages, "pdf_bytes": len(pdf)})
        return "built"
    except Exception as exc:  # a failed build (RenderFailed or any other) is reported
        log.exception("bundle build failed", extra={"job": str(job_id)})
        with transaction(factory) as session:
            job = _still_ours(session, job_id, claimed_at)
            if job is None:
                return "superseded" if claimed_at is not None else "failed"
            job.state, job.finished_at = "failed", utcnow()
            job.error = f"{type(exc).__name__}: {exc}"[:2000]
            audit.record(session, "sar.bundle_failed", SYSTEM,
                         subject_id=job.request.subject_id, object_type="sar_bundle",
                         object_id=str(job.id), details={"error": job.error[:300]})
        return "failed"


def remind_late(factory: sessionmaker[Session], config: Config, today: dt.date) -> int:
    """Email each agency whose task is past its internal due date (once a day): written to
    the outbox with the reminder's record, sent after the commit (retried if it fails)."""
    reminded, queued = 0, []
    with transaction(factory) as session:
        for task in ops.late_tasks(session, today):
            if task.agency.sar_contact and "@" in task.agency.sar_contact:
                queued.append(outbox.enqueue(session, notify.task_reminder(task, config),
                                             kind="sar.task_reminder", object_type="sar_task",
                                             object_id=str(task.id)).id)
            ops.mark_reminded(session, task, actor=SYSTEM)
            reminded += 1
    outbox.send_ids(factory, queued, config)
    return reminded


def run_once(factory: sessionmaker[Session], *, lease: dt.timedelta = LEASE) -> str | None:
    """Claim and build one job; None when the queue is empty."""
    with transaction(factory) as session:
        job = claim(session, lease=lease)
        claimed = (job.id, job.started_at) if job else None
    if claimed is None:
        return None
    return build(factory, *claimed)


def send_mail(factory: sessionmaker[Session], config: Config) -> int:
    """Send the outbox's messages that are due (retries with backoff); a failure to reach the
    database or the mail server is logged and tried again on the next round."""
    try:
        return outbox.send_due(factory, config)
    except Exception:
        log.exception("the outbox could not be worked")
        return 0


def run(factory: sessionmaker[Session], *, once: bool = False, poll: float = 2.0,
        lease: dt.timedelta = LEASE) -> None:
    """Work the queue until stopped (or until it is empty, with ``once``), sending the
    outbox's mail between jobs."""
    config: Config = current_app.config["PORTAL"]
    last_reminder: dt.date | None = None
    while True:
        today = clock.today()
        if last_reminder != today:
            remind_late(factory, config, today)
            last_reminder = today
        send_mail(factory, config)
        state = run_once(factory, lease=lease)
        if state is None:
            if once:
                return
            time.sleep(poll)
