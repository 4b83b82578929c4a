"""Staff pages for SAR work: the coordinators' queue and requests (identity, clock, bundle,
approval) and each agency's reviewers' own tasks (records, redaction). Who may open which
object is decided in ``sar.access``; every view is logged for the person."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.exceptions import NotFound as HttpNotFound
from werkzeug.wrappers import Response as WerkzeugResponse

from portal import database
from portal.errors import DomainError, Invalid
from portal.identity.models import Role, StaffUser
from portal.identity.sessions import actor, current_staff, staff_required
from portal.reference.models import Holding, Subject
from sar import access, attachments, clock, forms, notify, suggest
from sar import bundle as bundle_module
from sar import operations as ops
from sar.models import Reason, Regime, SarRecord, SarRequest, SarTask, Status, reasons_for
from sar.views_public import STATUS_LABELS, track_token
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
    form = forms.StaffRequestForm()
    if request.method == "POST":
        if not form.check_all(account=False, staff=True):
            return render_template("sar/file.html", form=form, errors=form.errors_shown(),
                                   form_errors=form.summary, agencies=public_agencies(),
                                   personal=True, account=None, staff_entry=True), 400
        try:
            new = form.staff_request(current_app.config["PORTAL"].locales)
            filed = ops.record_request(database.session(), new, actor=actor(),
                                       today=clock.today())
        except DomainError as exc:
            errors, summary = form_errors(exc)
            return render_template("sar/file.html", form=form, errors=errors,
                                   form_errors=summary, agencies=public_agencies(),
                                   personal=True, account=None, staff_entry=True), 400
        _send(filed.notices)
        return redirect(url_for("sar_staff.detail", reference=filed.sar.reference))
    return render_template("sar/file.html", form=form, errors={},
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
    extra.setdefault("search_form", None)
    extra.setdefault("letter_form", None)
    extra.setdefault("letter_for", None)
    extra.setdefault("pause_form", None)
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
    bundle = ops.latest_bundle(session, sar)
    return render_template(
        "sar/staff/detail.html", sar=sar, due=ops.due(sar, today), labels=STATUS_LABELS,
        bundle=bundle, documents=documents,
        withheld=bundle_module.stored_manifest(bundle) if bundle else None,
        manifest_kinds=bundle_module.KINDS, manifest_kind_labels=bundle_module.KIND_LABELS,
        reason_labels={r.value: label for r, label in bundle_module.REASON_LABELS.items()},
        opened={d.id for d in documents
                if access.has_opened(session, me.id, "document", str(d.id))},
        search=search, officers=officers, me=me, notices=ops.notice_states(session, sar),
        pause_labels=forms.PAUSE_LABELS, address_labels=forms.ADDRESS_LABELS,
        event_labels=forms.EVENT_LABELS, today=today,
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


REGIME_LABELS = {
    # Translators: the law a record was processed under decides which exemptions apply
    Regime.PART2: _l("Processed under Part 2 of the Data Protection Act 2018 (UK GDPR): "
                     "exemptions of Schedules 2 to 4"),
    Regime.PART3: _l("Processed under Part 3 of the Data Protection Act 2018 (law "
                     "enforcement): restrictions of section 45(4)"),
}
_SUPPLY_COUNTS = ("created", "replaced", "unchanged")


def _earlier_versions(found: SarTask) -> dict[str, list[SarRecord]]:
    out: dict[str, list[SarRecord]] = {}
    for rec in found.all_records:
        if rec.superseded_at is not None:
            out.setdefault(rec.external_id, []).append(rec)
    return out


def _supply_counts() -> dict[str, int]:
    # What the last upload did, carried in the redirect's query (numbers only).
    counts = {k: request.args.get(k, "") for k in _SUPPLY_COUNTS}
    if not all(v.isdigit() and len(v) < 6 for v in counts.values()):
        return {}
    return {k: int(v) for k, v in counts.items()}


def _task_page(found: SarTask, **extra: Any) -> str:
    session = database.session()
    subject = session.get(Subject, found.request.subject_id) if found.request.subject_id \
        else None
    refs = [h.agency_ref for h in session.scalars(select(Holding).where(
        Holding.subject_id == found.request.subject_id,
        Holding.agency_id == found.agency_id))] if subject else []
    extra.setdefault("search_form", None)
    return render_template("sar/staff/task.html", task=found, sar=found.request,
                           subject=subject, refs=refs, reasons_for=reasons_for,
                           regime_labels=REGIME_LABELS, earlier=_earlier_versions(found),
                           supplied=_supply_counts(), open_statuses=ops.OPEN_STATUSES,
                           reasons=list(Reason),
                           searches=[x for x in found.request.searches
                                     if x.agency_id == found.agency_id],
                           reason_labels=bundle_module.REASON_LABELS, personal=True, **extra)


def _track_link(sar: SarRequest) -> str:
    # Built by hand: the public pages may be served by another host (PORTAL_SURFACES).
    return f"{current_app.config['PORTAL'].public_url}/sar/track/{track_token(sar)}"


def _send(notices: Iterable[ops.Notice]) -> None:
    """Write the emails the operation says the requester is owed to the outbox, with each
    notice's record (sent after the commit, retried by the worker)."""
    notify.send(database.session(), notices, current_app.config["PORTAL"],
                track_link=_track_link)


# The action form fields an error summary may point at (the others point at the actions).
ACTION_FIELDS = frozenset({"subject_id", "method", "note", "decision", "safeguarding_reason",
                           "staff_id", "pause_reason", "question", "agency", "systems", "terms",
                           "searched_on", "proportionality", "posted_on", "address"})

Page = str | tuple[str, int] | WerkzeugResponse
LEAK_LABELS = {
    ops.LeakKind.REDACTED.value: _l("redacted text"),
    ops.LeakKind.WITHHELD.value: _l("a withheld record"),
    ops.LeakKind.NCND.value: _l("a record under neither confirm nor deny"),
    ops.LeakKind.FILE.value: _l("text redacted from a file"),
    ops.LeakKind.SAFE_CONTACT.value: _l("safe-contact details"),
}
# Translators: where the release check found a leak: in the bundle's PDF or its zip
WHERE_LABELS = {"pdf": _l("the PDF"), "zip": _l("the zip")}


def _refused(sar: SarRequest, exc: DomainError, **extra: Any) -> tuple[str, int]:
    """The request's page again, its error summary pointing at the field (or the actions),
    with what was typed (``extra``: the form) shown again."""
    href = f"#{exc.field}" if exc.field in ACTION_FIELDS else "#actions"
    return _detail(sar, form_errors=[{"text": exc.message, "href": href}],
                   error_field=exc.field, **extra), 400


def _done(sar: SarRequest, notices: Iterable[ops.Notice] = ()) -> WerkzeugResponse:
    """Queue what the action owes the requester and go back to the request."""
    _send(notices)
    return redirect(url_for("sar_staff.detail", reference=sar.reference))


@bp.post("/<reference>/verify")
@coordinator
def verify(reference: str) -> Page:
    """Identity (and authority) checked and the subject chosen: the clock starts."""
    sar, form = _sar(reference), forms.VerifyForm()
    try:
        forms.check(form)
        notices = ops.verify_identity(
            database.session(), sar, subject_id=form.subject(), staff_id=_me().id,
            method=form.method.data, note=form.note.data,
            adult_at_risk=form.adult_at_risk.data, today=clock.today(), actor=actor())
    except DomainError as exc:
        return _refused(sar, exc)
    return _done(sar, notices)


@bp.post("/<reference>/pause")
@coordinator
def pause(reference: str) -> Page:
    """Ask the requester for what is needed (identity, clarification, a fee): the clock
    stops, for that reason."""
    sar, form = _sar(reference), forms.PauseForm()
    try:
        notices = ops.pause(database.session(), sar, form.question.data,
                            reason=str(form.pause_reason.data), staff_id=_me().id,
                            today=clock.today(), actor=actor())
    except DomainError as exc:
        return _refused(sar, exc, pause_form=form)
    return _done(sar, notices)


@bp.post("/<reference>/resume")
@coordinator
def resume(reference: str) -> Page:
    """Restart the clock."""
    sar = _sar(reference)
    try:
        ops.resume(database.session(), sar, today=clock.today(), actor=actor())
    except DomainError as exc:
        return _refused(sar, exc)
    return _done(sar)


@bp.post("/<reference>/message")
@coordinator
def message(reference: str) -> Page:
    """Write to the requester."""
    sar, form = _sar(reference), forms.MessageForm()
    try:
        notices = ops.post_message(database.session(), sar, form.body.data,
                                   from_requester=False, staff_id=_me().id,
                                   today=clock.today(), actor=actor())
    except DomainError as exc:
        return _refused(sar, exc)
    return _done(sar, notices)


@bp.post("/<reference>/extend")
@coordinator
def extend(reference: str) -> Page:
    """Extend the time limit by one or two months, with the reasons."""
    sar, form = _sar(reference), forms.ExtendForm()
    try:
        notices = ops.extend(database.session(), sar, months=form.month_count(),
                             reason=form.reason.data, today=clock.today(), actor=actor())
    except DomainError as exc:
        return _refused(sar, exc)
    return _done(sar, notices)


@bp.post("/<reference>/refuse")
@coordinator
def refuse(reference: str) -> Page:
    """Refuse the request as manifestly unfounded or excessive, with the reasons."""
    sar, form = _sar(reference), forms.ReasonForm()
    try:
        notices = ops.refuse(database.session(), sar, reason=form.reason.data, actor=actor())
    except DomainError as exc:
        return _refused(sar, exc)
    return _done(sar, notices)


@bp.post("/<reference>/notices/<int:notice_id>/letter")
@coordinator
def letter(reference: str, notice_id: int) -> Page:
    """Record that a notice went by post: when, to which address, by whom."""
    sar, form = _sar(reference), forms.LetterForm()
    try:
        ops.record_letter(database.session(), sar, notice_id, posted_on=form.posted_date(),
                          address=str(form.address.data), staff_id=_me().id,
                          today=clock.today(), actor=actor())
    except DomainError as exc:
        return _refused(sar, exc, letter_form=form, letter_for=notice_id)
    return _done(sar)


@bp.post("/<reference>/searches")
@coordinator
def search(reference: str) -> Page:
    """Record the search an agency made for the person's records (Art 15(1A))."""
    sar, form = _sar(reference), forms.SearchForm()
    try:
        ops.record_search(database.session(), sar, form.new_search(), staff_id=_me().id,
                          today=clock.today(), actor=actor())
    except DomainError as exc:
        return _refused(sar, exc, search_form=form)
    return _done(sar)


@bp.post("/tasks/<uuid:task_id>/search")
@reviewer
def task_search(task_id: uuid.UUID) -> tuple[str, int] | WerkzeugResponse:
    """A reviewer records the search their agency made for the person's records."""
    task = _task(task_id)
    form = forms.SearchForm()
    try:
        ops.record_search(database.session(), task.request,
                          form.new_search(agency_id=task.agency_id), staff_id=_me().id,
                          today=clock.today(), actor=actor(), task=task)
    except DomainError as exc:
        return _task_page(task, form_errors=[{"text": exc.message,
                                              "href": f"#search-{exc.field}"}],
                          search_form=form), 400
    return redirect(url_for("sar_staff.task", task_id=task.id) + "#search")


@bp.post("/<reference>/assign")
@coordinator
def assign(reference: str) -> Page:
    """Give the request to a coordinator, or to nobody."""
    sar, form = _sar(reference), forms.AssignForm()
    try:
        ops.assign(database.session(), sar, form.staff(), actor=actor())
    except DomainError as exc:
        return _refused(sar, exc)
    return _done(sar)


@bp.post("/<reference>/ncnd")
@coordinator
def ncnd(reference: str) -> Page:
    """Record a neither-confirm-nor-deny decision."""
    sar, form = _sar(reference), forms.ReasonForm()
    try:
        ops.set_ncnd(database.session(), sar, reason=form.reason.data, actor=actor())
    except DomainError as exc:
        return _refused(sar, exc)
    return _done(sar)


@bp.post("/<reference>/safeguarding")
@coordinator
def safeguarding(reference: str) -> Page:
    """Record whether the records may go to this requester, and why."""
    sar, form = _sar(reference), forms.SafeguardingForm()
    try:
        ops.record_safeguarding(database.session(), sar, decision=form.decision.data,
                                reason=form.safeguarding_reason.data, staff_id=_me().id,
                                actor=actor())
    except DomainError as exc:
        return _refused(sar, exc)
    return _done(sar)


@bp.post("/<reference>/bundle")
@coordinator
def build_bundle(reference: str) -> Page:
    """Queue the bundle's build (every agency must have answered)."""
    sar = _sar(reference)
    try:
        ops.request_bundle(database.session(), sar, staff_id=_me().id, actor=actor())
    except DomainError as exc:
        return _refused(sar, exc)
    return _done(sar)


@bp.post("/<reference>/approve")
@coordinator
def approve(reference: str) -> Page:
    """Approve the latest bundle as the second person, releasing it; a release the checks
    refuse is recorded and answered 409."""
    sar = _sar(reference)
    try:
        return _approve(sar, _me())
    except DomainError as exc:
        return _refused(sar, exc)


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
                              "still appear in the bundle (%(kinds)s, in %(where)s). Redact "
                              "them and rebuild it.", count=result.leaked,
                              kinds=", ".join(str(LEAK_LABELS.get(k, k))
                                              for k in result.kinds),
                              where=", ".join(str(WHERE_LABELS.get(w, w))
                                              for w in result.where)))
        if result.files:
            messages.append(_("Release refused: %(count)d file(s) in the zip are not as a "
                              "reviewer released them. Rebuild it.", count=result.files))
        return _detail(sar, form_errors=[{"text": m, "href": "#bundle"}
                                         for m in messages]), 409
    return _done(sar, result.notices)


def _record(record_id: int) -> tuple[SarRecord, SarTask]:
    """A record and its task, only for a reviewer of the agency that supplied it."""
    try:
        record = access.record_for(database.session(), _me(), record_id)
    except DomainError as exc:
        raise HttpNotFound() from exc
    return record, _task(record.task_id)


def _review_page(record: SarRecord, task: SarTask, **extra: Any) -> str:
    """The record's text beside its files, with suggestions, redactions and the forms."""
    session = database.session()
    sar = task.request
    names, refs = suggest.known_people(session, agency_id=task.agency_id,
                                       subject_id=sar.subject_id)
    files = []
    for file in record.files:
        try:
            sizes = attachments.page_sizes(file)
        except DomainError:
            sizes = []  # a file that cannot be shown is withheld from its own page
        files.append({"file": file, "sizes": sizes,
                      "regions": {n: [r for r in file.redactions if r.page == n and r.width]
                                  for n in range(1, len(sizes) + 1)}})
        if sizes:
            # The pages are shown here: that is opening the file, logged for the person.
            attachments.record_open(session, sar, file, actor=actor())
    editable = (sar.status in ops.OPEN_STATUSES
                and ops.latest_approved(session, sar) is None)
    found = suggest.suggest(record.text, names=names, references=refs,
                            already=[r.text for r in record.redactions]) \
        if editable and not record.withheld else []
    return render_template(
        "sar/staff/record.html", record=record, task=task, sar=sar, files=files,
        suggestions=found, kind_labels=suggest.KIND_LABELS,
        # Only the reasons that fit how the record was processed (its DPA 2018 regime).
        reasons=reasons_for(record.regime), regime_labels=REGIME_LABELS,
        reason_labels=bundle_module.REASON_LABELS, editable=editable,
        dpi=attachments.DPI, personal=True, **extra)


@bp.get("/records/<int:record_id>")
@reviewer
def record(record_id: int) -> str:
    """Review one record: its text beside its files' pages, suggestions of personal data to
    consider, and every redaction with its reason (each can be undone before release)."""
    found, task = _record(record_id)
    _log(task.request, "task", Role.SAR_OFFICER, str(task.id))
    return _review_page(found, task)


def _review_refused(record: SarRecord, task: SarTask, exc: DomainError,
                    anchor: str, typed: str = "") -> tuple[str, int]:
    # What the reviewer typed is shown again, so nothing is lost to a refusal.
    return _review_page(record, task, form_errors=[{"text": exc.message,
                                                    "href": f"#{anchor}"}],
                        error=exc.message, typed=typed), 400


@bp.post("/records/<int:record_id>/redact")
@reviewer
def redact(record_id: int) -> tuple[str, int] | WerkzeugResponse:
    """Redact a span of a record's text (typed, selected or suggested), or withhold it, for
    a listed reason."""
    record, task = _record(record_id)
    form = forms.RedactForm()
    try:
        if form.whole.data:
            ops.withhold(database.session(), record, reason=form.reason.data,
                         detail=form.detail.data, ground=form.ground.data, actor=actor(),
                         staff_id=_me().id)
        else:
            start, end = form.offsets()
            ops.redact(database.session(), record, form.text.data, reason=form.reason.data,
                       detail=form.detail.data, ground=form.ground.data, staff_id=_me().id,
                       actor=actor(), start=start, end=end)
    except DomainError as exc:
        field = exc.field if exc.field in _REDACT_FIELDS else "text"
        return _review_refused(record, task, exc, f"record-{record.id}-{field}",
                               typed=form.text.data or "")
    return redirect(url_for("sar_staff.record", record_id=record.id) + "#redactions")


@bp.post("/records/<int:record_id>/undo")
@reviewer
def undo(record_id: int) -> tuple[str, int] | WerkzeugResponse:
    """Take back a redaction, a file's region or the record's withholding, before release."""
    record, task = _record(record_id)
    form = forms.UndoForm()
    session = database.session()
    try:
        if form.withholding.data:
            ops.undo_withholding(session, record, staff_id=_me().id, actor=actor())
        elif (region := form.region_id()) is not None:
            ops.undo_file_redaction(session, record, region, staff_id=_me().id,
                                    actor=actor())
        elif (redaction := form.redaction_id()) is not None:
            ops.undo_redaction(session, record, redaction, staff_id=_me().id,
                               actor=actor())
        else:
            raise Invalid("choose what to undo", field="redactions")
    except DomainError as exc:
        return _review_refused(record, task, exc, "redactions")
    return redirect(url_for("sar_staff.record", record_id=record.id) + "#redactions")


@bp.post("/tasks/<uuid:task_id>/upload")
@reviewer
def upload_records(task_id: uuid.UUID) -> tuple[str, int] | WerkzeugResponse:
    """A reviewer uploads their agency's records (the API's JSON format), or records "we hold
    nothing"."""
    task = _task(task_id)
    form = forms.RecordsForm()
    try:
        if form.nothing.data:
            ops.hold_nothing(database.session(), task, actor=actor(), staff_id=_me().id)
            return redirect(url_for("sar_staff.task", task_id=task.id))
        done = ops.supply(database.session(), task, form.new_records(), actor=actor(),
                          staff_id=_me().id)
    except DomainError as exc:
        return _task_page(task, form_errors=[{"text": exc.message,
                                              "href": f"#records-{task.id}"}]), 400
    counts: dict[str, Any] = {k: sum(1 for o in done.outcomes if o.outcome == k)
                              for k in _SUPPLY_COUNTS}
    return redirect(url_for("sar_staff.task", task_id=task.id, **counts))


_REDACT_FIELDS = frozenset({"text", "reason", "detail", "ground"})


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



@bp.post("/tasks/<uuid:task_id>/ncnd")
@reviewer
def task_ncnd(task_id: uuid.UUID) -> tuple[str, int] | WerkzeugResponse:
    """Neither confirm nor deny the agency's whole part, for a listed legal reason."""
    task = _task(task_id)
    form = forms.NcndForm()
    try:
        ops.set_task_ncnd(database.session(), task, reason=form.reason.data,
                          detail=form.detail.data, ground=form.ground.data, actor=actor())
    except DomainError as exc:
        return _task_page(task, form_errors=[{
            "text": exc.message, "href": f"#ncnd-{task.id}-{exc.field or 'reason'}"}]), 400
    return redirect(url_for("sar_staff.task", task_id=task.id))


@bp.post("/records/<int:record_id>/ncnd")
@reviewer
def record_ncnd(record_id: int) -> tuple[str, int] | WerkzeugResponse:
    """Neither confirm nor deny one record, for a listed legal reason."""
    try:
        record = access.record_for(database.session(), _me(), record_id)
    except DomainError as exc:
        raise HttpNotFound() from exc
    task = _task(record.task_id)
    form = forms.NcndForm()
    try:
        ops.set_record_ncnd(database.session(), record, reason=form.reason.data,
                            detail=form.detail.data, ground=form.ground.data, actor=actor())
    except DomainError as exc:
        return _task_page(task, form_errors=[{
            "text": exc.message,
            "href": f"#ncnd-record-{record.id}-{exc.field or 'reason'}"}]), 400
    return redirect(url_for("sar_staff.task", task_id=task.id) + f"#record-{record.id}")
