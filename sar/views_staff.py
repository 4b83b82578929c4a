"""Staff pages for SAR work: the coordinators' queue and requests (identity, clock, bundle,
approval) and each agency's reviewers' own tasks (records, redaction). Who may open which
object is decided in ``sar.access``; every view is logged for the person."""

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
from portal.reference.models import Holding, Subject
from sar import access, clock, delivery, notify
from sar import bundle as bundle_module
from sar import operations as ops
from sar.api import parse_records
from sar.models import Reason, SarRequest, SarTask, Status
from sar.views_public import STATUS_LABELS, form_request, track_token
from sar.views_public import agency_choices as public_agencies
from sar.views_public import field_errors as form_errors

bp = Blueprint("sar_staff", __name__, url_prefix="/staff/sar")
coordinator = staff_required(Role.SAR_COORDINATOR)
reviewer = staff_required(Role.SAR_OFFICER)
sar_staff = staff_required(Role.SAR_COORDINATOR, Role.SAR_OFFICER)
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
        return access.request_for(database.session(), _me(), reference)
    except DomainError as exc:
        raise HttpNotFound() from exc


def _task(task_id: uuid.UUID) -> SarTask:
    try:
        return access.task_for(database.session(), _me(), task_id)
    except DomainError as exc:
        raise HttpNotFound() from exc


def _log(sar: SarRequest, what: str, role: Role, object_id: str = "") -> None:
    ops.audit_view(database.session(), sar, actor=actor(), what=what, role=role.value,
                   object_id=object_id)


@bp.get("/")
@sar_staff
def queue() -> str:
    """A coordinator's queue of every request (deadline, days left, overdue; filter and
    sort); a reviewer's list of their own agency's tasks."""
    today = clock.today()
    me = _me()
    status = request.args.get("status", "")
    mine = request.args.get("mine") == "1"
    rows = []
    if access.is_coordinator(me):
        for sar in ops.queue(database.session(),
                             status=status if status in set(Status) else "",
                             assigned_to=me.id if mine else None):
            due = ops.due(sar, today)
            rows.append({"sar": sar, "due": due,
                         "left": (due - today).days if due else None,
                         "overdue": bool(due and due < today
                                         and sar.status in ops.OPEN_STATUSES)})
        if request.args.get("sort") == "due":
            rows.sort(key=lambda r: (r["due"] is None, r["due"] or today))
    return render_template("sar/staff/queue.html", rows=rows, labels=STATUS_LABELS,
                           status=status, mine=mine, sort=request.args.get("sort", ""),
                           coordinator=access.is_coordinator(me),
                           tasks=access.own_tasks(database.session(), me), today=today)


@bp.route("/new", methods=["GET", "POST"])
@coordinator
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
                                   today=clock.today())
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


def _search_date() -> tuple[dt.date | None, bool]:
    parts = [request.args.get(f"dob-{p}", "").strip() for p in ("day", "month", "year")]
    if not any(parts):
        return None, False
    try:
        return dt.date(int(parts[2]), int(parts[1]), int(parts[0])), False
    except ValueError:
        return None, True


def _detail(sar: SarRequest, **extra: Any) -> str:
    today = clock.today()
    session = database.session()
    me = _me()
    officers = [s for s in session.scalars(select(StaffUser).order_by(StaffUser.name))
                if Role.SAR_COORDINATOR in s.role_set]
    documents = ops.documents(session, sar)
    extra.setdefault("error_field", None)
    search: dict[str, Any] = {}
    if sar.status == Status.WAITING_FOR_ID:
        # Matching starts from what the requester typed; the coordinator may refine it.
        searched = "name" in request.args
        born, bad_date = _search_date()
        if not searched:
            born = sar.subject_date_of_birth
        name = request.args.get("name", sar.subject_name)[:200]
        reference = request.args.get("reference", "")[:100]
        found, more = ops.match_candidates(session, name=name, born=born, reference=reference)
        ops.log_candidates_shown(session, found, actor=actor(), agency_slug=me.agency.slug)
        search = {"name": name, "born": born, "reference": reference, "bad_date": bad_date,
                  "candidates": found, "more": more,
                  "day": request.args.get("dob-day", str(born.day) if born else ""),
                  "month": request.args.get("dob-month", str(born.month) if born else ""),
                  "year": request.args.get("dob-year", str(born.year) if born else "")}
    return render_template(
        "sar/staff/detail.html", sar=sar, due=ops.due(sar, today), labels=STATUS_LABELS,
        bundle=ops.latest_bundle(session, sar), documents=documents,
        opened={d.id for d in documents
                if access.has_opened(session, me.id, "document", str(d.id))},
        search=search, officers=officers, me=me,
        safeguarding=ops.needs_safeguarding(session, sar), personal=True, **extra)


@bp.get("/<reference>")
@coordinator
def detail(reference: str) -> str:
    """One request: identity and matching, clock, agencies' progress, messages, bundle."""
    sar = _sar(reference)
    _log(sar, "request", Role.SAR_COORDINATOR)
    return _detail(sar)


@bp.get("/<reference>/documents/<int:document_id>")
@coordinator
def document(reference: str, document_id: int) -> Response:
    """An identity or authority document, opened by a coordinator (logged)."""
    sar = _sar(reference)
    try:
        doc = access.document_for(database.session(), _me(), sar, document_id)
    except DomainError as exc:
        raise HttpNotFound() from exc
    if doc.content is None:
        raise HttpNotFound()
    _log(sar, "document", Role.SAR_COORDINATOR, str(doc.id))
    # Sniffed at upload (PDF, PNG or JPEG only); shown sandboxed, never cached.
    return Response(doc.content, mimetype=doc.mime, headers={
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'",
        "Content-Disposition": f'inline; filename="{sar.reference}-{doc.kind}-{doc.id}"'})


@bp.get("/tasks/<uuid:task_id>")
@reviewer
def task(task_id: uuid.UUID) -> str:
    """A reviewer's own agency's part of a request: its records, to supply and redact."""
    found = _task(task_id)
    _log(found.request, "task", Role.SAR_OFFICER, str(found.id))
    return _task_page(found)


def _task_page(found: SarTask, **extra: Any) -> str:
    session = database.session()
    subject = session.get(Subject, found.request.subject_id) if found.request.subject_id \
        else None
    refs = [h.agency_ref for h in session.scalars(select(Holding).where(
        Holding.subject_id == found.request.subject_id,
        Holding.agency_id == found.agency_id))] if subject else []
    return render_template("sar/staff/task.html", task=found, sar=found.request,
                           subject=subject, refs=refs, reasons=list(Reason),
                           reason_labels=bundle_module.REASON_LABELS, personal=True, **extra)


def _notify(sar: SarRequest, event: str, **extra: Any) -> None:
    config = current_app.config["PORTAL"]
    if sar.requester_email:
        # Built by hand: the public pages may be served by another host (PORTAL_SURFACES).
        link = f"{config.public_url}/sar/track/{track_token(sar)}"
        mail.queue(notify.to_requester(sar, event, config, link=link, **extra))


@bp.post("/<reference>/action")
@coordinator
def action(reference: str) -> str | tuple[str, int] | WerkzeugResponse:
    """Act on a request: each action calls one operation."""
    sar = _sar(reference)
    session, me, who, form = database.session(), _me(), actor(), request.form
    today = clock.today()
    name = form.get("action", "")
    try:
        if name == "verify":
            try:
                subject_id = uuid.UUID(form.get("subject_id", ""))
            except ValueError as exc:
                raise Invalid("choose the person", field="subject_id") from exc
            ops.verify_identity(session, sar, subject_id=subject_id, staff_id=me.id,
                                method=form.get("method", ""), note=form.get("note", ""),
                                adult_at_risk=form.get("adult_at_risk") == "yes",
                                today=today, actor=who)
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
        elif name == "safeguarding":
            ops.record_safeguarding(session, sar, decision=form.get("decision", ""),
                                    reason=form.get("safeguarding_reason", ""),
                                    staff_id=me.id, actor=who)
        elif name == "bundle":
            ops.request_bundle(session, sar, staff_id=me.id, actor=who)
        elif name == "approve":
            return _approve(sar, me)
        else:
            raise Invalid("unknown action", field="action")
    except DomainError as exc:
        href = f"#{exc.field}" if exc.field in ACTION_FIELDS else "#actions"
        return _detail(sar, form_errors=[{"text": exc.message, "href": href}],
                       error_field=exc.field), 400
    return redirect(url_for("sar_staff.detail", reference=reference))


# The action form fields an error summary may point at (the others point at the actions).
ACTION_FIELDS = frozenset({"subject_id", "method", "note", "decision", "safeguarding_reason",
                           "staff_id"})


def _approve(sar: SarRequest, me: StaffUser) -> tuple[str, int] | WerkzeugResponse:
    session = database.session()
    bundle = ops.latest_bundle(session, sar)
    if bundle is None:
        raise Invalid("there is no bundle", field="action")
    result = ops.approve(session, bundle, staff_id=me.id, actor=actor())
    if not result.approved:
        # The refusal is audited, so it is committed here, and answered as an error: an
        # error answer is otherwise rolled back at the end of the request.
        session.commit()
        messages = []
        if result.leaked:
            messages.append(_("Release refused: %(count)d redacted or safe-contact string(s) "
                              "still appear in the bundle. Rebuild it.", count=result.leaked))
        if result.files:
            messages.append(_("Release refused: %(count)d file(s) in the zip are not as a "
                              "reviewer released them. Rebuild it.", count=result.files))
        return _detail(sar, form_errors=[{"text": m, "href": "#bundle"}
                                         for m in messages]), 409
    config = current_app.config["PORTAL"]
    days = delivery.link_max_age(config) // 86400
    if sar.delivery == "download" and sar.requester_email:
        link = f"{config.public_url}/sar/download/{delivery.make_token(config, bundle.id)}"
        mail.queue(notify.to_requester(sar, "ready", config, link=link, days=days))
    return redirect(url_for("sar_staff.detail", reference=sar.reference))


@bp.post("/records/<int:record_id>/redact")
@reviewer
def redact(record_id: int) -> tuple[str, int] | WerkzeugResponse:
    """Redact a span of a record's text, or withhold it, for a listed reason."""
    try:
        record = access.record_for(database.session(), _me(), record_id)
    except DomainError as exc:
        raise HttpNotFound() from exc
    task = _task(record.task_id)
    try:
        if request.form.get("whole") == "yes":
            ops.withhold(database.session(), record, reason=request.form.get("reason", ""),
                         detail=request.form.get("detail", ""), actor=actor(),
                         staff_id=_me().id)
        else:
            ops.redact(database.session(), record, request.form.get("text", ""),
                       reason=request.form.get("reason", ""),
                       detail=request.form.get("detail", ""), staff_id=_me().id,
                       actor=actor())
    except DomainError as exc:
        return _task_page(task, form_errors=[{"text": exc.message,
                                              "href": f"#record-{record.id}-text"}]), 400
    return redirect(url_for("sar_staff.task", task_id=task.id) + f"#record-{record.id}")


@bp.post("/tasks/<uuid:task_id>/upload")
@reviewer
def upload_records(task_id: uuid.UUID) -> tuple[str, int] | WerkzeugResponse:
    """A reviewer uploads their agency's records (the API's JSON format), or records "we hold
    nothing"."""
    task = _task(task_id)
    try:
        if request.form.get("nothing") == "yes":
            ops.hold_nothing(database.session(), task, actor=actor(), staff_id=_me().id)
        else:
            upload = request.files.get("records")
            try:
                body = json.loads(upload.read() if upload else b"")
            except ValueError as exc:
                raise Invalid("the file is not JSON in the API's format",
                              field="records") from exc
            ops.supply_records(database.session(), task, parse_records(body), actor=actor(),
                               staff_id=_me().id)
    except DomainError as exc:
        return _task_page(task, form_errors=[{"text": exc.message,
                                              "href": f"#records-{task.id}"}]), 400
    return redirect(url_for("sar_staff.task", task_id=task.id))


@bp.get("/bundles/<uuid:bundle_id>.pdf")
@coordinator
def preview(bundle_id: uuid.UUID) -> Response:
    """The built PDF (every agency's records), for coordinators: opening it is logged, and an
    approver must have opened it."""
    try:
        bundle = access.bundle_for(database.session(), _me(), bundle_id)
    except DomainError as exc:
        raise HttpNotFound() from exc
    if bundle.pdf is None:
        raise HttpNotFound()
    _log(bundle.request, "bundle", Role.SAR_COORDINATOR, str(bundle.id))
    return Response(bundle.pdf, mimetype="application/pdf",
                    headers={"Cache-Control": "no-store"})

