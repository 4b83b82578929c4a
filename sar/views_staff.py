"""Staff pages for SAR officers: the queue, one request's work, review and approval."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.exceptions import NotFound as HttpNotFound
from werkzeug.wrappers import Response as WerkzeugResponse

from portal import database, mail
from portal.errors import DomainError, Invalid
from portal.identity.models import Role, StaffUser
from portal.identity.sessions import actor, current_staff, staff_required
from portal.models import Subject
from sar import bundle as bundle_module
from sar import delivery, notify
from sar import operations as ops
from sar.api import parse_records
from sar.models import Reason, SarBundle, SarRecord, SarRequest, SarTask, Status
from sar.views_public import STATUS_LABELS, form_request, track_token
from sar.views_public import agency_choices as public_agencies
from sar.views_public import field_errors as form_errors

bp = Blueprint("sar_staff", __name__, url_prefix="/staff/sar")
officer = staff_required(Role.SAR_OFFICER)
UPLOAD_LIMIT = 50 * 1024 * 1024


@bp.url_value_preprocessor
def _upload_limit(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Before CSRF reads the form: only the records upload takes large bodies.
    if endpoint == "sar_staff.upload_records":
        request.max_content_length = UPLOAD_LIMIT


def _me() -> StaffUser:
    staff = current_staff()
    if staff is None:  # staff_required guarantees a signed-in officer
        raise HttpNotFound()
    return staff


def _sar(reference: str) -> SarRequest:
    try:
        return ops.by_reference(database.session(), reference)
    except DomainError as exc:
        raise HttpNotFound() from exc


@bp.get("/")
@officer
def queue() -> str:
    """Every request with its deadline, days left and overdue flag; filter and sort."""
    today = dt.date.today()
    status = request.args.get("status", "")
    mine = request.args.get("mine") == "1"
    rows = []
    for sar in ops.queue(database.session(), status=status if status in set(Status) else "",
                         assigned_to=_me().id if mine else None):
        due = ops.due(sar, today)
        rows.append({"sar": sar, "due": due,
                     "left": (due - today).days if due else None,
                     "overdue": bool(due and due < today and sar.status in ops.OPEN_STATUSES)})
    if request.args.get("sort") == "due":
        rows.sort(key=lambda r: (r["due"] is None, r["due"] or today))
    return render_template("sar/staff/queue.html", rows=rows, labels=STATUS_LABELS,
                           status=status, mine=mine, sort=request.args.get("sort", ""))


@bp.route("/new", methods=["GET", "POST"])
@officer
def new_request() -> str | tuple[str, int] | WerkzeugResponse:
    """Enter a request received by phone, in person or in writing, in the same shape."""
    values = request.form
    if request.method == "POST":
        channel = "written" if values.get("channel") == "written" else "verbal"
        language = values.get("language", "en")
        try:
            if language not in current_app.config["PORTAL"].locales:
                raise Invalid("unknown language", field="language")
            new = form_request(account=None, channel=channel, language=language)
            sar = ops.file_request(database.session(), new, actor=actor(),
                                   today=dt.date.today())
        except DomainError as exc:
            errors, summary = form_errors(exc)
            return render_template("sar/file.html", values=values, errors=errors,
                                   form_errors=summary, agencies=public_agencies(),
                                   personal=True, account=None, staff_entry=True), 400
        _notify(sar, "filed")
        return redirect(url_for("sar_staff.detail", reference=sar.reference))
    return render_template("sar/file.html", values=values, errors={},
                           agencies=public_agencies(), personal=True, account=None,
                           staff_entry=True)


def _detail(sar: SarRequest, **extra: Any) -> str:
    today = dt.date.today()
    session = database.session()
    subjects = list(session.scalars(select(Subject).order_by(Subject.family_name).limit(200)))
    officers = [s for s in session.scalars(select(StaffUser).order_by(StaffUser.name))
                if Role.SAR_OFFICER in s.role_set]
    return render_template(
        "sar/staff/detail.html", sar=sar, due=ops.due(sar, today), labels=STATUS_LABELS,
        bundle=ops.latest_bundle(session, sar), documents=ops.documents(session, sar),
        subjects=subjects, officers=officers, reasons=list(Reason),
        reason_labels=bundle_module.REASON_LABELS, me=_me(), personal=True, **extra)


@bp.get("/<reference>")
@officer
def detail(reference: str) -> str:
    """One request: identity, clock, tasks, records for review, messages, bundle."""
    sar = _sar(reference)
    ops.audit_view(database.session(), sar, actor=actor())
    return _detail(sar)


def _notify(sar: SarRequest, event: str, **extra: Any) -> None:
    config = current_app.config["PORTAL"]
    if sar.requester_email:
        # Built by hand: the public pages may be served by another host (PORTAL_SURFACES).
        link = f"{config.public_url}/sar/track/{track_token(sar)}"
        mail.queue(notify.to_requester(sar, event, config, link=link, **extra))


@bp.post("/<reference>/action")
@officer
def action(reference: str) -> str | tuple[str, int] | WerkzeugResponse:
    """Act on a request: each action calls one operation."""
    sar = _sar(reference)
    session, me, who, form = database.session(), _me(), actor(), request.form
    today = dt.date.today()
    name = form.get("action", "")
    try:
        if name == "verify":
            try:
                subject_id = uuid.UUID(form.get("subject_id", ""))
            except ValueError as exc:
                raise Invalid("choose the person", field="subject_id") from exc
            ops.verify_identity(session, sar, subject_id=subject_id, staff_id=me.id,
                                method=form.get("method", ""), today=today, actor=who)
            _notify(sar, "started", due=ops.due(sar, today))
        elif name == "pause":
            ops.pause_for_clarification(session, sar, form.get("question", ""), staff_id=me.id,
                                        today=today, actor=who)
            _notify(sar, "paused", question=form.get("question", ""))
        elif name == "resume":
            ops.resume(session, sar, today=today, actor=who)
        elif name == "message":
            ops.post_message(session, sar, form.get("body", ""), from_requester=False,
                             staff_id=me.id, today=today, actor=who)
            _notify(sar, "message")
        elif name == "extend":
            ops.extend(session, sar, months=int(form.get("months", "0") or 0),
                       reason=form.get("reason", ""), notice_sent=form.get("notice") == "yes",
                       today=today, actor=who)
            _notify(sar, "extended", due=ops.due(sar, today))
        elif name == "refuse":
            ops.refuse(session, sar, reason=form.get("reason", ""), actor=who)
            _notify(sar, "refused")
        elif name == "assign":
            value = form.get("staff_id", "")
            ops.assign(session, sar, int(value) if value.isdigit() else None, actor=who)
        elif name == "ncnd":
            ops.set_ncnd(session, sar, reason=form.get("reason", ""), actor=who)
        elif name == "bundle":
            ops.request_bundle(session, sar, staff_id=me.id, actor=who)
        elif name == "approve":
            return _approve(sar, me)
        else:
            raise Invalid("unknown action", field="action")
    except DomainError as exc:
        return _detail(sar, form_errors=[{"text": exc.message, "href": "#actions"}]), 400
    return redirect(url_for("sar_staff.detail", reference=reference))


def _approve(sar: SarRequest, me: StaffUser) -> str | WerkzeugResponse:
    session = database.session()
    bundle = ops.latest_bundle(session, sar)
    if bundle is None:
        raise Invalid("there is no bundle", field="action")
    result = ops.approve(session, bundle, staff_id=me.id, actor=actor())
    if not result.approved:
        # Committed (the block is recorded), shown as an error.
        return _detail(sar, form_errors=[{"text": _(
            "Release refused: %(count)d redacted or safe-contact string(s) still appear in "
            "the bundle. Rebuild it.", count=result.leaked), "href": "#bundle"}])
    config = current_app.config["PORTAL"]
    days = delivery.link_max_age(config) // 86400
    if sar.delivery == "download" and sar.requester_email:
        link = f"{config.public_url}/sar/download/{delivery.make_token(config, bundle.id)}"
        mail.queue(notify.to_requester(sar, "ready", config, link=link, days=days))
    return redirect(url_for("sar_staff.detail", reference=sar.reference))


def _record(record_id: int) -> SarRecord:
    record = database.session().get(SarRecord, record_id)
    if record is None:
        raise HttpNotFound()
    return record


def _record_sar(record: SarRecord) -> SarRequest:
    task = database.session().get(SarTask, record.task_id)
    if task is None:
        raise HttpNotFound()
    return task.request


@bp.post("/records/<int:record_id>/redact")
@officer
def redact(record_id: int) -> tuple[str, int] | WerkzeugResponse:
    """Redact a span of a record's text, for a listed reason."""
    record = _record(record_id)
    sar = _record_sar(record)
    try:
        if request.form.get("whole") == "yes":
            ops.withhold(database.session(), record, reason=request.form.get("reason", ""),
                         detail=request.form.get("detail", ""), actor=actor())
        else:
            ops.redact(database.session(), record, request.form.get("text", ""),
                       reason=request.form.get("reason", ""),
                       detail=request.form.get("detail", ""), staff_id=_me().id,
                       actor=actor())
    except DomainError as exc:
        return _detail(sar, form_errors=[{"text": exc.message,
                                          "href": f"#record-{record.id}-text"}]), 400
    return redirect(url_for("sar_staff.detail", reference=sar.reference) + f"#record-{record.id}")


@bp.post("/tasks/<uuid:task_id>/upload")
@officer
def upload_records(task_id: uuid.UUID) -> tuple[str, int] | WerkzeugResponse:
    """Staff upload an agency's records (the API's JSON format), or record "we hold nothing"."""
    task = database.session().get(SarTask, task_id)
    if task is None:
        raise HttpNotFound()
    try:
        if request.form.get("nothing") == "yes":
            ops.hold_nothing(database.session(), task, actor=actor())
        else:
            upload = request.files.get("records")
            try:
                body = json.loads(upload.read() if upload else b"")
            except ValueError as exc:
                raise Invalid("the file is not JSON in the API's format",
                              field="records") from exc
            ops.supply_records(database.session(), task, parse_records(body), actor=actor())
    except DomainError as exc:
        return _detail(task.request, form_errors=[{"text": exc.message,
                                                   "href": f"#task-{task.id}"}]), 400
    return redirect(url_for("sar_staff.detail", reference=task.request.reference))


@bp.get("/bundles/<uuid:bundle_id>.pdf")
@officer
def preview(bundle_id: uuid.UUID) -> Response:
    """The built PDF, for the reviewing and approving officers (logged)."""
    bundle = database.session().get(SarBundle, bundle_id)
    if bundle is None or bundle.pdf is None:
        raise HttpNotFound()
    ops.audit_view(database.session(), bundle.request, actor=actor(), what="bundle")
    return Response(bundle.pdf, mimetype="application/pdf",
                    headers={"Cache-Control": "no-store"})

