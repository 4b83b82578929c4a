"""My records: link the account, my consents, who holds my records, what happened, download."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from consent import receipts
from consent.models import ConsentEvent
from consent.selfservice import forms as consent_forms
from consent.selfservice import operations as ops
from portal import database, mail
from portal.config import Config
from portal.errors import Conflict, DomainError, GuardianRequired, Invalid, NotFound
from portal.extensions import client_address, limiter
from portal.http import no_store
from portal.identity import claims, forms, sessions
from portal.identity import operations as accounts
from portal.reference.models import Agency, Subject

bp = Blueprint("selfservice", __name__, url_prefix="/my")
bp.after_request(no_store)
F = TypeVar("F", bound=Callable[..., Any])


def _language() -> str:
    return str(get_locale() or "en")


def _subject_id() -> uuid.UUID | None:
    account = sessions.current_account()
    return account.subject_id if account is not None else None


def linked(view: F) -> F:
    """Only an account linked to a subject; others are sent to link theirs first."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _subject_id() is None:
            return redirect(url_for("selfservice.link"))
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _account_key() -> str:
    account = sessions.current_account()
    return f"account:{account.id if account else 'anonymous'}"


@bp.get("")
@sessions.account_required
def home() -> str:
    """The signed-in person's start: what they can see and do."""
    account = sessions.current_account()
    assert account is not None  # noqa: S101 - account_required guarantees it
    # Every link and unlink of an account to these records, so the person can spot one
    # that was not theirs.
    links = claims.notices_of(database.session(), account.subject_id) \
        if account.subject_id else []
    return render_template("selfservice/home.html", account=account, links=links)


@bp.route("/link", methods=["GET", "POST"])
@sessions.account_required
@limiter.limit("5/minute", methods=["POST"], key_func=_account_key)
@limiter.limit("10/minute", methods=["POST"], key_func=client_address)
def link() -> str | BaseResponse:
    """Link the account to the person's records with the code on their receipt."""
    account = sessions.current_account()
    assert account is not None  # noqa: S101 - account_required guarantees it
    if account.subject_id is not None:
        return render_template("selfservice/link_done.html", already=True)
    form = consent_forms.ClaimForm()
    if request.method == "GET" and request.args.get("code"):
        # The QR code on a first-contact receipt carries the code: the person only confirms.
        form.code.data = request.args["code"][:40]
    if form.validate_on_submit():
        db = database.session()
        try:
            linked = claims.redeem(db, account, form.code.data or "", actor=sessions.actor())
        except (Invalid, Conflict, NotFound):
            form.code.errors = [_("That code is not valid, has been used or has expired. "
                                  "Check it against your receipt")]
        else:
            # The person hears of it where they chose at first contact, not (only) here.
            mail.queue(claims.notice_email(linked.notice, linked.subject,
                                           current_app.config["PORTAL"]))
            return redirect(url_for("selfservice.link_done"))
    return render_template("selfservice/link.html", form=form,
                           form_errors=forms.errors_of(form))


@bp.get("/link/done")
@sessions.account_required
@linked
def link_done() -> str:
    """The account is now linked."""
    return render_template("selfservice/link_done.html")


@bp.route("/emails", methods=["GET", "POST"])
@sessions.account_required
def emails() -> str | BaseResponse:
    """Choose what our emails may say: someone else may read the person's mailbox."""
    account = sessions.current_account()
    assert account is not None  # noqa: S101 - account_required guarantees it
    form = forms.EmailWordingForm(wording=account.email_wording)
    if not form.validate_on_submit():
        return render_template("selfservice/emails.html", form=form,
                               form_errors=forms.errors_of(form))
    accounts.set_email_wording(database.session(), account, form.wording.data or "",
                          actor=sessions.actor())
    return redirect(url_for("selfservice.home", emails="1"))


@bp.get("/consents")
@sessions.account_required
@linked
def consents() -> str:
    """Every choice that applies to the person, and its state."""
    subject_id = cast(uuid.UUID, _subject_id())
    views = ops.my_notices(database.session(), subject_id, _language())
    return render_template("selfservice/consents.html", notices=views)


def _notice(notice_id: int) -> ops.NoticeView:
    try:
        return ops.notice_view(database.session(), cast(uuid.UUID, _subject_id()), notice_id,
                               _language())
    except NotFound:
        abort(404)


@bp.get("/consents/<int:notice_id>")
@sessions.account_required
@linked
def consent(notice_id: int) -> str:
    """One choice in plain words, its state and its full history."""
    view = _notice(notice_id)
    return render_template("selfservice/consent.html", n=view,
                           agencies=_agency_names())


def _agency_names() -> dict[int, str]:
    return dict(database.session().execute(select(Agency.id, Agency.name)).all())


ACTIONS = ("give", "withdraw")
ACTIVITY_LIMIT = 50  # of each list, per page
MAX_ACTIVITY_PAGE = 1_000_000


@bp.route("/consents/<int:notice_id>/<action>", methods=["GET", "POST"])
@sessions.account_required
@linked
def change(notice_id: int, action: str) -> str | BaseResponse:
    """Check your answer, then confirm: giving and withdrawing take the same steps."""
    if action not in ACTIONS:
        abort(404)
    view = _notice(notice_id)

    if request.method == "GET":
        return render_template("selfservice/check.html", n=view, action=action)
    operation = ops.give if action == "give" else ops.withdraw
    try:
        operation(database.session(), cast(uuid.UUID, _subject_id()), notice_id,
                  language=_language(), actor=sessions.actor())
    except GuardianRequired:
        message = _("A parent or guardian must give this consent for a child under 13. "
                    "Ask the agency that helped you.")
        return render_template("selfservice/check.html", n=view, action=action,
                               form_errors=[{"text": message, "href": "#confirm"}])
    except DomainError:
        # Already in that state (a second click, another tab): nothing changed.
        return redirect(url_for("selfservice.consent", notice_id=notice_id))
    return redirect(url_for("selfservice.changed", notice_id=notice_id, action=action))


@bp.get("/consents/<int:notice_id>/<action>/done")
@sessions.account_required
@linked
def changed(notice_id: int, action: str) -> str:
    """The confirmation panel after a change."""
    if action not in ACTIONS:
        abort(404)
    return render_template("selfservice/changed.html", n=_notice(notice_id), action=action)


@bp.get("/records")
@sessions.account_required
@linked
def records() -> str:
    """Who holds records about me, and sharing that happens by law."""
    subject_id = cast(uuid.UUID, _subject_id())
    db = database.session()
    return render_template("selfservice/records.html", holdings=ops.holdings(db, subject_id),
                           statutory=ops.statutory_sharing(db, subject_id))


@bp.get("/activity")
@sessions.account_required
@linked
def activity() -> str:
    """What happened to my data: every check and every staff view, a page at a time."""
    subject_id = cast(uuid.UUID, _subject_id())
    page = request.args.get("page", 1, type=int)
    if not 1 <= page <= MAX_ACTIVITY_PAGE:  # an offset the database could not take is a 500
        abort(404)
    db = database.session()
    # A page stays quick and light however long the history (DESIGN §7: under 100 kB);
    # one row more than shown says whether an older page exists.
    offset = (page - 1) * ACTIVITY_LIMIT
    checks = ops.checks(db, subject_id, ACTIVITY_LIMIT + 1, offset=offset)
    views = ops.staff_views(db, subject_id, ACTIVITY_LIMIT + 1, offset=offset)
    request_views = ops.sar_views(db, subject_id, ACTIVITY_LIMIT + 1, offset=offset)
    if page > 1 and not checks and not views and not request_views:
        abort(404)
    return render_template("selfservice/activity.html", checks=checks[:ACTIVITY_LIMIT],
                           views=views[:ACTIVITY_LIMIT],
                           request_views=request_views[:ACTIVITY_LIMIT], limit=ACTIVITY_LIMIT,
                           page=page, older=max(len(checks), len(views),
                                                len(request_views)) > ACTIVITY_LIMIT)


@bp.get("/download")
@sessions.account_required
@linked
def download() -> str:
    """Take your data away: the zip, and each receipt."""
    subject_id = cast(uuid.UUID, _subject_id())

    events = database.session().scalars(select(ConsentEvent).where(
        ConsentEvent.subject_id == subject_id,
        ConsentEvent.event_type.in_(receipts.CONSENTING)).order_by(ConsentEvent.id.desc()))
    titles = {v.notice_id: v.text.title if v.text else "" for v in
              ops.my_notices(database.session(), subject_id, _language())}
    return render_template("selfservice/download.html", events=list(events), titles=titles)


@bp.get("/download/my-data.zip")
@sessions.account_required
@linked
def download_zip() -> Response:
    """The person's data as JSON and CSV in a zip."""
    data = ops.export(database.session(), cast(uuid.UUID, _subject_id()),
                      actor=sessions.actor())
    return Response(data, mimetype="application/zip", headers={
        "Content-Disposition": "attachment; filename=my-data.zip"})


def _receipt(public_id: str) -> tuple[Subject, list[receipts.Choice], str]:
    subject_id = cast(uuid.UUID, _subject_id())
    db = database.session()
    try:
        event = ops.event_of(db, subject_id, public_id)
    except NotFound:
        abort(404)
    if event.event_type not in receipts.CONSENTING:
        abort(404)
    subject = db.get(Subject, subject_id)
    if subject is None:  # pragma: no cover - a foreign key guarantees it
        abort(404)
    return subject, receipts.load_choices(db, [event], _language()), str(event.public_id)


@bp.get("/receipts/<public_id>.jws")
@sessions.account_required
@linked
def receipt_jws(public_id: str) -> Response:
    """A Kantara Consent Receipt v1.1, signed as a compact JWS."""
    config: Config = current_app.config["PORTAL"]
    subject, choices, receipt_id = _receipt(public_id)
    body = receipts.kantara(database.session(), subject, choices, receipt_id=receipt_id,
                            config=config)
    return Response(receipts.sign(body, config), mimetype="application/jose", headers={
        "Content-Disposition": f"attachment; filename=consent-receipt-{receipt_id}.jws"})


@bp.get("/receipts/<public_id>.pdf")
@sessions.account_required
@linked
def receipt_pdf(public_id: str) -> Response:
    """The same receipt as a PDF to keep."""
    config: Config = current_app.config["PORTAL"]
    subject, choices, receipt_id = _receipt(public_id)
    data = receipts.pdf(subject, choices, receipt_id=receipt_id, config=config)
    return Response(data, mimetype="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=consent-receipt-{receipt_id}.pdf"})
