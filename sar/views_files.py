"""Staff pages for the files agencies supplied with SAR records: open (logged), redact by
region or by text, and decide (release as is, release redacted, or withhold with a reason).

Only a SAR officer of the agency that supplied a file may open or decide on it; anyone else
gets the same "not found" as for a file that does not exist.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request, url_for
from werkzeug.exceptions import NotFound as HttpNotFound
from werkzeug.wrappers import Response as WerkzeugResponse

from portal import database
from portal.errors import DomainError, Invalid
from portal.identity.models import Role, StaffUser
from portal.identity.sessions import actor, current_staff, staff_required
from sar import access, attachments
from sar import bundle as bundle_module
from sar import operations as ops
from sar.models import FileReview, Reason, SarFile, SarRecord, SarRequest, SarTask

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


def _int(name: str) -> int:
    value = request.form.get(name, "").strip()
    if not value.isdigit():
        raise Invalid("enter whole numbers of pixels", field=name)
    return int(value)


def _page(file: SarFile, record: SarRecord, task: SarTask, sar: SarRequest,
          **extra: Any) -> str:
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
        delivered=attachments.delivered_name(file), reasons=list(Reason),
        reason_labels=bundle_module.REASON_LABELS, review=FileReview,
        editable=sar.status in ops.OPEN_STATUSES and not record.withheld,
        dpi=attachments.DPI, personal=True, values=request.form, **extra)


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
           call: Any, anchor: str) -> str | tuple[str, int] | WerkzeugResponse:
    from flask import redirect

    try:
        call()
    except DomainError as exc:
        field = exc.field or anchor
        # Reason and detail appear in two forms: point at the form that was sent.
        href = f"#{field}" if field in _FIELDS else f"#{anchor}"
        return _page(file, record, task, sar, errors={field: exc.message},
                     form_errors=[{"text": exc.message, "href": href}]), 400
    return redirect(url_for("sar_files.show", file_id=file.id) + f"#{anchor}")


@bp.post("/<int:file_id>/region")
@officer
def region(file_id: int) -> str | tuple[str, int] | WerkzeugResponse:
    """Black out a rectangle of an image or of a PDF's page."""
    file, record, task, sar = _load(file_id)
    form = request.form

    def call() -> None:
        attachments.add_region(
            database.session(), sar, record, file, page=_int("page") if file.mime ==
            attachments.PDF else 1, x=_int("x"), y=_int("y"), width=_int("width"),
            height=_int("height"), reason=form.get("reason", ""),
            detail=form.get("detail", ""), staff_id=_me().id, actor=actor())

    return _after(file, record, task, sar, call, "redactions")


@bp.post("/<int:file_id>/text")
@officer
def text(file_id: int) -> str | tuple[str, int] | WerkzeugResponse:
    """Redact a span of a text file."""
    file, record, task, sar = _load(file_id)
    form = request.form

    def call() -> None:
        attachments.add_text(database.session(), sar, record, file, form.get("text", ""),
                             reason=form.get("reason", ""), detail=form.get("detail", ""),
                             staff_id=_me().id, actor=actor())

    return _after(file, record, task, sar, call, "redactions")


@bp.post("/<int:file_id>/decision")
@officer
def decision(file_id: int) -> str | tuple[str, int] | WerkzeugResponse:
    """Release the file as is, release it redacted, or withhold it with a reason."""
    file, record, task, sar = _load(file_id)
    form = request.form
    session = database.session()

    def call() -> None:
        attachments.decide(session, sar, record, file, form.get("decision", ""),
                           reason=form.get("reason", ""), detail=form.get("detail", ""),
                           staff_id=_me().id, forbidden=ops.forbidden_strings(session, sar),
                           actor=actor())

    return _after(file, record, task, sar, call, "decision")
