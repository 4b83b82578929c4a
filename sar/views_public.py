"""Public pages: file a SAR (signed in or not), follow it, answer, download the bundle."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from werkzeug.exceptions import NotFound as HttpNotFound
from werkzeug.wrappers import Response as WerkzeugResponse

from portal import database, mail
from portal.errors import DomainError, NotFound
from portal.extensions import limiter
from portal.http import public
from portal.identity.models import Account
from portal.identity.sessions import account_required, actor, current_account
from portal.reference.models import Agency
from sar import clock, delivery, forms, notify
from sar import operations as ops
from sar.models import SarBundle, SarRequest, Status

bp = Blueprint("sar", __name__, url_prefix="/sar")
TRACK_SALT = "sar-track-request"
# A link to an anonymous request is a bearer token sent by email, so it expires: every email
# about the request carries a fresh one, and /sar/new-link sends another on demand. A request
# filed by a signed-in account is followed only while signed in to it, whatever the link.
TRACK_MAX_AGE = 30 * 86400
UPLOAD_LIMIT = 21 * 1024 * 1024  # two documents of 10 MB and the form

FIELD_ERRORS: dict[str, Any] = {
    "requester_name": _l("Enter your full name"),
    "requester_email": forms.EMAIL_ERROR,
    "subject_name": _l("Enter the full name of the person the records are about"),
    "relationship": _l("Say how you are acting for this person"),
    "delivery": _l("Choose how you want to receive the records"),
    "postal_address": _l("Enter the postal address"),
    "scope": _l("Choose at least one agency, or choose everything every agency holds"),
    "scope_from": _l("The start date must be a real date before the end date"),
    "identity_method": _l("Choose how you will prove your identity"),
    "document": _l("The file must be a photo (JPEG or PNG) or a PDF, 10 MB or smaller"),
    "authority_document": _l("Upload evidence of your authority to act for this person (a "
                             "photo or a PDF), or choose to show it in person"),
    "body": _l("Write a message of 5,000 characters or fewer"),
}

STATUS_LABELS: dict[str, Any] = {
    Status.RECEIVED: _l("Received"),
    Status.WAITING_FOR_ID: _l("Waiting for proof of identity"),
    Status.PAUSED: _l("Paused: we asked you a question"),
    Status.IN_PROGRESS: _l("In progress"),
    Status.EXTENDED: _l("In progress: time limit extended"),
    Status.READY: _l("Ready to download"),
    Status.DELIVERED: _l("Delivered"),
    Status.REFUSED: _l("Refused"),
}


@bp.url_value_preprocessor
def _upload_limit(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Runs before every before_request handler (CSRF reads the form there), so the larger
    # limit applies to the upload pages only, and before anything reads the body.
    if endpoint in ("sar.file_request", "sar.upload_document"):
        request.max_content_length = UPLOAD_LIMIT


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["PORTAL"].secret_key, salt=TRACK_SALT)


def track_token(sar: SarRequest) -> str:
    """A signed link to one request's status page, for people without an account."""
    return str(_serializer().dumps({"sar": str(sar.id)}))


class LinkExpired(Exception):
    """A tracking link past its age: the person is offered a new one."""


def _from_token(token: str) -> SarRequest:
    try:
        data = _serializer().loads(token, max_age=TRACK_MAX_AGE)
        sar = database.session().get(SarRequest, uuid.UUID(data["sar"]))
    except SignatureExpired as exc:
        raise LinkExpired() from exc
    except (BadSignature, KeyError, TypeError, ValueError) as exc:
        raise HttpNotFound() from exc
    if sar is None:
        raise HttpNotFound()
    return sar


class SignInFirst(Exception):
    """The request was filed by an account: only that account, signed in, may follow it."""


def _followed(token: str) -> SarRequest:
    """The request a link names, if this visitor may follow it (the one access rule of every
    page reached by a tracking link: status, messages, replies, documents)."""
    sar = _from_token(token)
    if sar.account_id is not None:
        account = current_account()
        if account is None:
            raise SignInFirst()
        if account.id != sar.account_id:
            # Another account: as if there were no such request.
            raise HttpNotFound()
    return sar


@bp.errorhandler(SignInFirst)
def _sign_in_first(_exc: SignInFirst) -> WerkzeugResponse:
    token = str((request.view_args or {}).get("token", ""))
    return redirect(url_for("accounts.sign_in", next=url_for("sar.track", token=token)))


@bp.errorhandler(LinkExpired)
def _link_expired(_exc: LinkExpired) -> tuple[str, int]:
    return render_template("sar/link_expired.html", personal=True), 410


def field_errors(exc: DomainError) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The page's error for an operation's error: the field's own wording, beside the field
    and in the error summary."""
    field = exc.field or "form"
    text = str(FIELD_ERRORS.get(field, _("Check this answer")))
    return {field: text}, [{"text": text, "href": f"#{field}"}]


def agency_choices() -> list[Agency]:
    """The agencies a request may be limited to."""
    return list(database.session().scalars(select(Agency).where(Agency.active)
                                           .order_by(Agency.name)))


def _address_key() -> str:
    return request.remote_addr or "unknown"


def _send(notices: Iterable[ops.Notice], link: Callable[[SarRequest], str]) -> None:
    """Write the emails the operation says the requester is owed to the outbox, with each
    notice's record (sent after the commit, retried by the worker)."""
    notify.send(database.session(), notices, current_app.config["PORTAL"], track_link=link)


@bp.route("/request", methods=["GET", "POST"])
@public
@limiter.limit("10/hour", key_func=_address_key, methods=["POST"])
def file_request() -> str | tuple[str, int] | WerkzeugResponse:
    """Ask for a copy of your records (or someone else's, with their authority)."""
    account = current_account()
    form = forms.RequestForm()
    if request.method == "POST":
        if not form.check_all(account=account is not None, staff=False):
            # Every error at once, each beside its answer; everything typed is shown again.
            return render_template("sar/file.html", form=form, errors=form.errors_shown(),
                                   form_errors=form.summary, agencies=agency_choices(),
                                   personal=True, account=account), 400
        try:
            new = form.new_request(channel="web", language=_current_lang())
            filed = ops.record_request(database.session(), new, actor=actor(),
                                       today=clock.today(), account=account)
            filed.sar.email_wording = _chosen_wording(form, account)
        except DomainError as exc:
            errors, summary = field_errors(exc)
            # 400: the request's transaction is rolled back, so nothing half-made is kept.
            return render_template("sar/file.html", form=form, errors=errors,
                                   form_errors=summary, agencies=agency_choices(), personal=True,
                                   account=account), 400
        token = track_token(filed.sar)
        config = current_app.config["PORTAL"]
        database.session().flush()
        # The email links to the page the filer is sent to.
        _send(filed.notices, lambda _sar: config.public_url + url_for("sar.track", token=token))
        return redirect(url_for("sar.track", token=token, new="1"))
    return render_template("sar/file.html", form=form, errors={}, agencies=agency_choices(),
                           personal=True, account=account)


def _chosen_wording(form: forms.RequestForm, account: Account | None) -> str:
    """What emails about the request may say: the form's answer, else the account's choice,
    else neutral."""
    chosen = str(form.email_wording.data)
    if chosen in mail.WORDINGS:
        return chosen
    return mail.wording(account.email_wording) if account is not None else mail.NEUTRAL


def _current_lang() -> str:
    locale = get_locale()
    return str(locale.language) if locale else "en"


def _status_page(sar: SarRequest, token: str, **extra: Any) -> str:
    today = clock.today()
    return render_template("sar/status.html", sar=sar, token=token, due=ops.due(sar, today),
                           status_label=STATUS_LABELS[Status(sar.status)], new=request.args
                           .get("new") == "1", documents=ops.documents(database.session(), sar),
                           personal=True, errors={}, **extra)


@bp.get("/track/<token>")
@public
def track(token: str) -> str:
    """The status of one request, its messages, and what the person can do next."""
    return _status_page(_followed(token), token)


@bp.post("/track/<token>/message")
@public
@limiter.limit("20/hour", key_func=_address_key)
def reply(token: str) -> tuple[str, int] | WerkzeugResponse:
    """The requester writes to the SAR team (an answer to a question restarts the clock)."""
    sar = _followed(token)
    form = forms.ReplyForm()
    try:
        # The requester is told nothing of their own message.
        ops.post_message(database.session(), sar, form.body.data, from_requester=True,
                         staff_id=None, today=clock.today(), actor=actor())
    except DomainError as exc:
        errors, summary = field_errors(exc)
        return _status_page(sar, token, form_errors=summary, message_error=errors), 400
    return redirect(url_for("sar.track", token=token))


@bp.post("/track/<token>/document")
@public
@limiter.limit("10/hour", key_func=_address_key)
def upload_document(token: str) -> tuple[str, int] | WerkzeugResponse:
    """Send proof of identity (or of authority) after filing."""
    sar = _followed(token)
    form = forms.DocumentForm()
    try:
        ops.receive_document(database.session(), sar, form.document_kind(), form.content(),
                             today=clock.today(), actor=actor())
    except DomainError as exc:
        errors, summary = field_errors(exc)
        return _status_page(sar, token, form_errors=summary, document_error=errors), 400
    return redirect(url_for("sar.track", token=token))


@bp.route("/new-link", methods=["GET", "POST"])
@public
@limiter.limit("5/hour", key_func=_address_key, methods=["POST"])
def new_link() -> str:
    """Send a fresh tracking link to the address a request was filed with.

    The answer is the same whether or not such a request exists, so the page tells nobody
    who has asked for their records. A request filed by an account gets a pointer to sign in
    instead of a link, and one whose requester chose no email gets nothing.
    """
    form = forms.NewLinkForm()
    errors: dict[str, str] = {}
    summary: list[dict[str, str]] = []
    if request.method == "POST":
        if form.validate():
            config = current_app.config["PORTAL"]
            _send(ops.link_requested(database.session(), reference=form.normal_reference(),
                                     address=form.normal_address()),
                  lambda sar: config.public_url.rstrip("/") + url_for(
                      "sar.track", token=track_token(sar)))
            return render_template("sar/new_link.html", sent=True, personal=True, errors={})
        errors, summary = forms.errors_by_field(form)
    return render_template("sar/new_link.html", sent=False, errors=errors,
                           form_errors=summary, form=form, personal=True)


@bp.get("/mine")
@account_required
def mine() -> str:
    """The signed-in person's own requests."""
    account = current_account()
    assert account is not None  # noqa: S101 - account_required guarantees it
    requests = ops.requests_for_account(database.session(), account)
    return render_template("sar/mine.html", requests=[(r, track_token(r)) for r in requests],
                           labels=STATUS_LABELS, personal=True)


@bp.get("/download/<token>")
@account_required
def open_link(token: str) -> str | tuple[str, int]:
    """The emailed single-use link: signed in as the requester, once, before it expires."""
    account = current_account()
    assert account is not None  # noqa: S101 - account_required guarantees it
    config = current_app.config["PORTAL"]
    try:
        bundle_id = delivery.read_token(config, token)
        bundle = database.session().get(SarBundle, bundle_id)
        if bundle is None:
            raise NotFound("no such bundle")
        ops.use_link(database.session(), bundle, account, actor=actor())
    except DomainError:
        return render_template("sar/link_failed.html", personal=True), 410
    return render_template("sar/download.html", bundle=bundle, personal=True)


@bp.get("/bundles/<uuid:bundle_id>/<any(pdf,zip):what>")
@account_required
def download(bundle_id: Any, what: str) -> Response:
    """One file of a bundle whose link the requester has opened; every download logged."""
    account = current_account()
    assert account is not None  # noqa: S101 - account_required guarantees it
    bundle = database.session().get(SarBundle, bundle_id)
    if bundle is None:
        raise HttpNotFound()
    try:
        data = ops.download(database.session(), bundle, account, what, actor=actor())
    except DomainError as exc:
        raise HttpNotFound() from exc
    name = f"{bundle.request.reference}.{what}"
    mime = "application/pdf" if what == "pdf" else "application/zip"
    return Response(data, mimetype=mime, headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store"})
