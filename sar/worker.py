"""The bundle worker: claims queued builds from the job table, renders them, reports failures.

On PostgreSQL jobs are claimed with ``FOR UPDATE SKIP LOCKED`` so several workers may run; on
SQLite run one worker.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import time
import uuid

from flask import current_app
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from portal import audit, mail
from portal.audit import SYSTEM
from portal.config import Config
from portal.db import transaction, utcnow
from portal.pdf import render_pdf_isolated
from sar import bundle as bundle_module
from sar import notify
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


def claim(session: Session) -> SarBundle | None:
    """Take the oldest queued job, or one whose worker's lease ran out, and mark it running
    (skipping jobs other workers hold)."""
    abandoned = (SarBundle.state == "running") & (SarBundle.started_at < utcnow() - LEASE)
    stmt = (select(SarBundle).where((SarBundle.state == "queued") | abandoned)
            .order_by(SarBundle.created_at).limit(1))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    job = session.scalars(stmt).first()
    if job is None:
        return None
    job.state = "running"
    job.started_at = utcnow()
    job.progress = 5
    session.flush()
    return job


def _progress(factory: sessionmaker[Session], job_id: uuid.UUID, percent: int) -> None:
    with transaction(factory) as session:
        job = session.get(SarBundle, job_id)
        if job is not None:
            job.progress = percent


def build(factory: sessionmaker[Session], job_id: uuid.UUID) -> str:
    """Render one claimed job; return its final state ("built" or "failed")."""
    try:
        with transaction(factory) as session:
            job = session.get(SarBundle, job_id)
            if job is None:
                return "failed"
            sar = job.request
            page = bundle_module.html(session, sar)
            zipped = bundle_module.archive(session, sar)
        _progress(factory, job_id, 30)
        pdf = render_pdf_isolated(page, pdf_variant="pdf/ua-1", timeout=RENDER_TIMEOUT_S,
                                  memory_mb=RENDER_MEMORY_MB)
        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        with transaction(factory) as session:
            job = session.get(SarBundle, job_id)
            if job is None:
                return "failed"
            job.pdf, job.archive, job.pages = pdf, zipped, pages
            job.state, job.progress, job.finished_at = "built", 100, utcnow()
            audit.record(session, "sar.bundle_built", SYSTEM, subject_id=job.request.subject_id,
                         object_type="sar_bundle", object_id=str(job.id),
                         details={"pages": pages, "pdf_bytes": len(pdf)})
        return "built"
    except Exception as exc:  # a failed build (RenderFailed or any other) is reported
        log.exception("bundle build failed", extra={"job": str(job_id)})
        with transaction(factory) as session:
            job = session.get(SarBundle, job_id)
            if job is not None:
                job.state, job.finished_at = "failed", utcnow()
                job.error = f"{type(exc).__name__}: {exc}"[:2000]
                audit.record(session, "sar.bundle_failed", SYSTEM,
                             subject_id=job.request.subject_id, object_type="sar_bundle",
                             object_id=str(job.id), details={"error": job.error[:300]})
        return "failed"


def remind_late(factory: sessionmaker[Session], config: Config, today: dt.date) -> int:
    """Email each agency whose task is past its internal due date (once a day)."""
    sent = 0
    with transaction(factory) as session:
        for task in ops.late_tasks(session, today):
            if task.agency.sar_contact and "@" in task.agency.sar_contact:
                mail.send_now(notify.task_reminder(task, config), config)
            ops.mark_reminded(session, task, actor=SYSTEM)
            sent += 1
    return sent


def run_once(factory: sessionmaker[Session]) -> str | None:
    """Claim and build one job; None when the queue is empty."""
    with transaction(factory) as session:
        job = claim(session)
        job_id = job.id if job else None
    if job_id is None:
        return None
    return build(factory, job_id)


def run(factory: sessionmaker[Session], *, once: bool = False, poll: float = 2.0) -> None:
    """Work the queue until stopped (or until it is empty, with ``once``)."""
    config: Config = current_app.config["PORTAL"]
    last_reminder: dt.date | None = None
    while True:
        today = dt.date.today()
        if last_reminder != today:
            remind_late(factory, config, today)
            last_reminder = today
        state = run_once(factory)
        if state is None:
            if once:
                return
            time.sleep(poll)
