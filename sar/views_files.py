"""Staff pages for the files agencies supplied with SAR records: open (logged), redact by
region or by text, and decide (release as is, release redacted, or withhold with a reason).

Only a SAR officer of the agency that supplied a file may open or decide on it; anyone else
gets the same "not found" as for a file that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from werkzeug.exceptions import NotFound as HttpNotFound
from werkzeug.wrappers import Response as WerkzeugResponse

from portal import database
from portal.errors import DomainError
from portal.identity.models import Role, StaffUser
from portal.identity.sessions import actor, current_staff, staff_required
from sar import access, attachments, forms
from sar import bundle as bundle_module
from sar import operations as ops
from sar.models import FileReview, SarFile, SarRecord, SarRequest, SarTask, reasons_for

bp = Blueprint("sar_files", __name__, url_prefix="/staff/sar/files")
officer = staff_required(Role.SAR_OFFICER)
_FIELDS = {"text", "page", "x", "y", "width", "height"}


def _me() -> StaffUser:
    staff = current_staff()
    if staff is None:  # staff_required guarantees a signed-in officer
        raise HttpNotFound()
    return staff


def _load(file_id: int) -> tuple[SarFile, SarRecord, SarTask, SarRequest]:
    """The file, only for a reviewer of the agency that supplied it (the access model)."""
    session = database.session()
    try:
        file = access.file_for(session, _me(), file_id)
        record = access.record_for(session, _me(), file.record_id)
        task = access.task_for(session, _me(), record.task_id)
    except DomainError as exc:
        raise HttpNotFound() from exc
    return file, record, task, task.request


def _page(file: SarFile, record: SarRecord, task: SarTask, sar: SarRequest,
          region: forms.RegionForm | None = None, **extra: Any) -> str:
    try:
        sizes, text = attachments.page_sizes(file), attachments.text_of(file)
        released = attachments.text_of(file, released=True) if file.released else ""
    except DomainError as exc:
        # A file that cannot be shown can still be withheld, which needs no rendering.
        sizes, text, released = [], "", ""
        extra.setdefault("form_errors", [{"text": exc.message, "href": "#decision"}])
    return render_template(
        "sar/staff/file.html", file=file, record=record, task=task, sar=sar,
        sizes=sizes, pages=len(sizes), text=text, released_text=released,
        delivered=attachments.delivered_name(file), reasons=reasons_for(record.regime),
        reason_labels=bundle_module.REASON_LABELS, review=FileReview,
        editable=sar.status in ops.OPEN_STATUSES and not record.withheld,
        dpi=attachments.DPI, personal=True,
        # Only the region's numbers are shown back as sent.
        region=region or forms.RegionForm(formdata=None), **extra)


@bp.get("/<int:file_id>")
@officer
def show(file_id: int) -> str:
    """Open a file to review it (logged: the reviewer must have opened it to decide)."""
    file, record, task, sar = _load(file_id)
    attachments.record_open(database.session(), sar, file, actor=actor())
    return _page(file, record, task, sar)


@bp.get("/<int:file_id>/page/<int:page>.png")
@officer
def page_image(file_id: int, page: int) -> Response:
    """One page of the file (or the image) re-encoded from its pixels; ?released=1 shows the
    version that will be released, with its redactions burnt in."""
    file, _record, _task, _sar = _load(file_id)
    if not attachments.has_opened(database.session(), file, _me().id):
        raise HttpNotFound()
    try:
        png = attachments.page_image(file, page, released=request.args.get("released") == "1")
    except DomainError as exc:
        raise HttpNotFound() from exc
    return Response(png, mimetype="image/png",
                    headers={"Cache-Control": "no-store", "Content-Disposition": "inline"})


def _after(file: SarFile, record: SarRecord, task: SarTask, sar: SarRequest,
           call: Callable[[], object], anchor: str, region: forms.RegionForm | None = None
           ) -> str | tuple[str, int] | WerkzeugResponse:
    try:
        call()
    except DomainError as exc:
        field = exc.field or anchor
        # Reason and detail appear in two forms: point at the form that was sent.
        href = f"#{field}" if field in _FIELDS else f"#{anchor}"
        return _page(file, record, task, sar, region, errors={field: exc.message},
                     form_errors=[{"text": exc.message, "href": href}]), 400
    return redirect(url_for("sar_files.show", file_id=file.id) + f"#{anchor}")


@bp.post("/<int:file_id>/region")
@officer
def region(file_id: int) -> str | tuple[str, int] | WerkzeugResponse:
    """Black out a rectangle of an image or of a PDF's page."""
    file, record, task, sar = _load(file_id)
    form = forms.RegionForm()
    pdf = file.mime == attachments.PDF
    if not pdf:
        del form.page  # an image has one page

    def call() -> None:
        forms.check(form)
        attachments.add_region(
            database.session(), sar, record, file, page=form.number("page") if pdf else 1,
            x=form.number("x"), y=form.number("y"), width=form.number("width"),
            height=form.number("height"), reason=form.reason.data, detail=form.detail.data,
            ground=form.ground.data,
            staff_id=_me().id, actor=actor())

    return _after(file, record, task, sar, call, "redactions", form)


@bp.post("/<int:file_id>/text")
@officer
def text(file_id: int) -> str | tuple[str, int] | WerkzeugResponse:
    """Redact a span of a text file."""
    file, record, task, sar = _load(file_id)
    form = forms.FileTextForm()

    def call() -> None:
        attachments.add_text(database.session(), sar, record, file, form.text.data,
                             reason=form.reason.data, detail=form.detail.data,
            ground=form.ground.data,
                             staff_id=_me().id, actor=actor())

    return _after(file, record, task, sar, call, "redactions")


@bp.post("/<int:file_id>/decision")
@officer
def decision(file_id: int) -> str | tuple[str, int] | WerkzeugResponse:
    """Release the file as is, release it redacted, or withhold it with a reason."""
    file, record, task, sar = _load(file_id)
    form = forms.FileDecisionForm()
    session = database.session()

    def call() -> None:
        attachments.decide(session, sar, record, file, form.decision.data,
                           reason=form.reason.data, detail=form.detail.data,
            ground=form.ground.data,
                           staff_id=_me().id, forbidden=ops.forbidden_strings(session, sar),
                           actor=actor())

    return _after(file, record, task, sar, call, "decision")
