"""The first-contact journey, page by page, and choices received by phone or letter.

The journey's answers are kept in the signed session until the person signs; only then is
anything about their choices written, all in one request.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import segno
from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound as HTTPNotFound
from werkzeug.wrappers import Response as BaseResponse

from consent import operations as consent_ops
from consent import receipts
from consent.first_contact import notify
from consent.first_contact import operations as fc
from consent.first_contact.forms import (
    LANGUAGE_CHOICES,
    ReceiptEmailForm,
    SignForm,
    StartForm,
    WhoForm,
    choices_form,
)
from consent.forms import ContactForm, HoldingForm, IdentityCheckedForm, RemoteChoiceForm
from consent.staff import subject_page
from portal import database, mail
from portal.database import utcnow
from portal.errors import (
    Conflict,
    DomainError,
    GuardianRequired,
    Invalid,
    InvalidTransition,
    NotFound,
)
from portal.identity import claims
from portal.identity.models import Role
from portal.identity.sessions import staff_required
from portal.identity.staff import staff_actor
from portal.identity.staff_views import after_staff_request, current
from portal.reference.models import Holding, Subject
from portal.reference.operations import end_holding as end
from portal.reference.operations import put_holding, visible_subject
from portal.ui import _error_page

bp = Blueprint("first_contact", __name__, url_prefix="/staff/first-contact")
bp.after_request(after_staff_request)

OFFICER = Role.CONSENT_OFFICER
LANGUAGE_NAMES = {"en": "English", "cy": "Cymraeg", "pl": "Polski"}


def _journey() -> dict[str, Any]:
    data: dict[str, Any] = session.get("first_contact") or {}
    return data


def _subject_id() -> uuid.UUID:
    journey = _journey()
    if "subject_id" not in journey:
        raise NotFound("no journey in progress")
    return uuid.UUID(journey["subject_id"])


def _start_over() -> BaseResponse:
    return redirect(url_for("first_contact.start"))


def _begin(subject_id: uuid.UUID, language: str) -> BaseResponse:
    # The last person's claim code (held in the signed, unencrypted cookie for printing)
    # goes as soon as the device moves on to someone else.
    session.pop("first_contact_claim", None)
    session["first_contact"] = {"subject_id": str(subject_id), "language": language}
    return redirect(url_for("first_contact.who"))


def _uuid_or_nil(value: str) -> uuid.UUID:
    # An unreadable id names nobody: the nil id is visible to no one, so it is refused as unknown.
    try:
        return uuid.UUID(value)
    except ValueError:
        return uuid.UUID(int=0)


def _start_page(form: StartForm, duplicates: Sequence[Subject] = ()) -> tuple[str, int]:
    return render_template("first_contact/start.html", values=form.data, errors=form.summary,
                           form_errors=form.summary, duplicates=duplicates,
                           language_codes=LANGUAGE_CHOICES, language_names=LANGUAGE_NAMES), \
        (400 if form.summary else 200)


@bp.route("/", methods=["GET", "POST"])
@staff_required(OFFICER)
def start() -> BaseResponse | tuple[str, int]:
    """Step 1: find the person or register them, and record the agency's reference."""
    staff = current()
    if request.method == "GET":
        if request.args.get("subject"):
            person = visible_subject(database.session(), staff,
                                     _uuid_or_nil(request.args["subject"]))
            return _begin(person.id, person.preferred_language)
        return _start_page(StartForm(formdata=None))
    form = StartForm()
    if not form.validate():
        return _start_page(form)
    try:
        started = fc.start(database.session(), staff, agency_ref=form.agency_ref.data,
                           details=form.details(), subject_id=form.chosen_subject,
                           confirmed_new=form.confirmed_new)
    except DomainError as exc:
        form.add_error("existing" if exc.field == "subject" else "agency_ref",
                       _("That reference is already used for someone else")
                       if exc.status == 409 else _("Choose a person"))
        return _start_page(form)
    if started.subject is None:
        return _start_page(form, started.duplicates)
    return _begin(started.subject.id, started.language)


def _child(person: Any) -> bool:
    return person.date_of_birth is not None and consent_ops.age_on(
        person.date_of_birth, utcnow().date()) < consent_ops.GUARDIAN_AGE


@bp.route("/who", methods=["GET", "POST"])
@staff_required(OFFICER)
def who() -> str | BaseResponse | tuple[str, int]:
    """Step 2: who is choosing (a parent or guardian for a child under 13) and interpreting."""
    if "subject_id" not in _journey():
        return _start_over()
    person = visible_subject(database.session(), current(), _subject_id())
    child = _child(person)
    journey = _journey()
    form = WhoForm()
    form.child = child
    if request.method == "POST":
        form.validate()
        journey.update(form.data)
        if not form.summary:
            session["first_contact"] = journey
            return redirect(url_for("first_contact.choices"))
    return render_template("first_contact/who.html", person=person, child=child,
                           journey=journey, form_errors=form.summary, errors=form.summary), \
        (400 if form.summary else 200)


@bp.route("/choices", methods=["GET", "POST"])
@staff_required(OFFICER)
def choices() -> str | BaseResponse | tuple[str, int]:
    """Step 3: each notice in the person's language, a separate yes or no for each."""
    journey = _journey()
    if "subject_id" not in journey or "interpreter" not in journey:
        return _start_over()
    staff = current()
    language = journey["language"]
    notices = fc.applicable_notices(database.session(), staff.agency_id, language)
    form = choices_form(notices)
    picked: dict[str, str] = dict(journey.get("choices") or journey.get("draft") or {})
    if request.method == "POST":
        form.validate()
        picked = {str(item.version.id): form[f"notice-{item.version.id}"].data
                  for item in notices if not form[f"notice-{item.version.id}"].errors}
        if not notices:
            form.add_error("choices", _("Your agency has no consent questions to ask"))
        journey["shown"] = [item.version.id for item in notices]
        if form.summary:
            # A half-answered page is never signable: only a complete set becomes choices.
            journey.pop("choices", None)
            journey["draft"] = picked
            session["first_contact"] = journey
        else:
            journey.pop("draft", None)
            journey["choices"] = picked
            session["first_contact"] = journey
            return redirect(url_for("first_contact.sign"))
    with force_locale(language):
        return render_template("first_contact/choices.html", notices=notices, picked=picked,
                               form_errors=form.summary, person_language=language), \
            (400 if form.summary else 200)


@bp.route("/sign", methods=["GET", "POST"])
@staff_required(OFFICER)
def sign() -> str | BaseResponse | tuple[str, int]:
    """Step 4: the person signs (drawn, or typed without JavaScript); the officer witnesses."""
    journey = _journey()
    if "subject_id" not in journey:
        return _start_over()
    if not journey.get("choices"):
        return redirect(url_for("first_contact.choices"))
    staff = current()
    db = database.session()
    person = visible_subject(db, staff, _subject_id())
    notices = {item.version.id: item for item in fc.applicable_notices(db, staff.agency_id,
                                                                      journey["language"])}
    if {int(k) for k in journey["choices"]} != set(notices):
        # Every notice shown needs its own answer before anyone signs.
        return redirect(url_for("first_contact.choices"))
    form = SignForm()
    if request.method == "POST" and form.validate():
        talk = fc.Conversation(
            subject_id=person.id, language=journey["language"],
            choices={int(k): v == "yes" for k, v in journey["choices"].items()},
            signature=fc.Signature(typed_name=form.typed_name.data,
                                   drawn_png=form.signature_image.data),
            witnessed=True, interpreter=journey.get("interpreter") == "yes",
            interpreter_language=journey.get("interpreter_language", ""),
            guardian_name=journey.get("guardian_name", ""),
            guardian_relationship=journey.get("guardian_relationship", ""),
            device=request.headers.get("User-Agent", ""),
            shown=journey.get("shown", []))
        try:
            receipt = fc.record(db, staff, talk)
        except DomainError:
            form.add_error("typed_name", _("The choices could not be recorded. Start again."))
        else:
            _claim, code = claims.issue(db, person.id, actor=staff_actor(staff))
            session.pop("first_contact", None)
            session["first_contact_claim"] = {"receipt": str(receipt.id), "code": code}
            return redirect(url_for("first_contact.done", receipt_id=receipt.id))
    rows = [(notices[int(k)], v == "yes") for k, v in journey["choices"].items()
            if int(k) in notices]
    return render_template("first_contact/sign.html", person=person, rows=rows,
                           journey=journey, form_errors=form.summary, staff=staff), \
        (400 if form.summary else 200)


def _claim_code(receipt_id: uuid.UUID) -> str | None:
    held = session.get("first_contact_claim") or {}
    return str(held["code"]) if held.get("receipt") == str(receipt_id) else None


def _claim_url(code: str) -> str:
    config = current_app.config["PORTAL"]
    return f"{config.public_url.rstrip('/')}/my/link?code={code.replace('-', '')}"


@bp.get("/receipts/<uuid:receipt_id>")
@staff_required(OFFICER)
def done(receipt_id: uuid.UUID) -> str:
    """Step 5: the receipt, to print or email, with the claim code."""
    receipt, person, chosen = fc.receipt_for(database.session(), current(), receipt_id)
    code = _claim_code(receipt_id)
    return render_template("first_contact/done.html", receipt=receipt, person=person,
                           choices=chosen, claim_code=code, sent=request.args.get("sent"))


def _pdf(receipt_id: uuid.UUID, *, printed: bool) -> tuple[bytes, Any]:
    """The receipt: ``printed`` (handed over in person) carries the claim code and its QR
    while this journey's session holds it; the rendering that is emailed never does."""
    receipt, person, chosen = fc.receipt_for(database.session(), current(), receipt_id)
    code = _claim_code(receipt_id) if printed else None
    qr = segno.make(_claim_url(code), error="m").svg_inline(scale=3) if code else None
    with force_locale(receipt.language):
        data = receipts.pdf(person, chosen, receipt_id=str(receipt.id),
                            config=current_app.config["PORTAL"], claim_code=code, qr_svg=qr,
                            link_help=True)
    return data, person


@bp.get("/receipts/<uuid:receipt_id>/receipt.pdf")
@staff_required(OFFICER)
def receipt_pdf(receipt_id: uuid.UUID) -> Response:
    """The PDF receipt to print and hand over (with the claim code while this journey's
    session holds it)."""
    data, _person = _pdf(receipt_id, printed=True)
    return Response(data, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="consent-receipt-{receipt_id}.pdf"'})


@bp.get("/receipts/<uuid:receipt_id>/receipt.json")
@staff_required(OFFICER)
def receipt_json(receipt_id: uuid.UUID) -> Response:
    """The Kantara v1.1 consent receipt, signed as a JWS."""
    db = database.session()
    receipt, person, chosen = fc.receipt_for(db, current(), receipt_id)
    config = current_app.config["PORTAL"]
    body = receipts.kantara(db, person, chosen, receipt_id=str(receipt.id), config=config)
    payload = {"receipt": body, "jws": receipts.sign(body, config)}
    return Response(json.dumps(payload, indent=2, ensure_ascii=False),
                    mimetype="application/json", headers={
                        "Content-Disposition":
                            f'attachment; filename="consent-receipt-{receipt_id}.json"'})


@bp.post("/receipts/<uuid:receipt_id>/email")
@staff_required(OFFICER)
def email(receipt_id: uuid.UUID) -> str | BaseResponse | tuple[str, int]:
    """Email the PDF receipt to the address the person gives."""
    form = ReceiptEmailForm()
    form.validate()
    try:
        fc.email_receipt(database.session(), current(), receipt_id)
    except Invalid:
        form.add_error("email", _("They chose not to get emails: print the receipt instead"))
    if form.summary:
        receipt, person, chosen = fc.receipt_for(database.session(), current(), receipt_id)
        return render_template("first_contact/done.html", receipt=receipt, person=person,
                               choices=chosen, claim_code=_claim_code(receipt_id),
                               form_errors=form.summary, email=form.email.data), 400
    data, person = _pdf(receipt_id, printed=False)
    mail.queue(notify.receipt_email(person, form.email.data, data, receipt_id,
                                    current_app.config["PORTAL"]))
    return redirect(url_for("first_contact.done", receipt_id=receipt_id, sent="1"))


@bp.post("/remote/<uuid:subject_id>")
@staff_required(OFFICER)
def remote(subject_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    """Record a choice or withdrawal that arrived by phone, letter or email."""
    staff = current()
    db = database.session()
    form = RemoteChoiceForm()
    if form.validate() and form.received_on.data is not None:
        try:
            fc.record_remote_choice(db, staff, subject_id,
                                    notice_version_id=form.notice_version_id,
                                    choice=form.choice.data, method=form.method.data,
                                    received_on=form.received_on.data, note=form.note.data)
        except NotFound:
            raise
        except GuardianRequired:
            form.add_error("choice", _("For a child under 13, a yes must come from a parent "
                                       "or guardian at a first contact"))
        except InvalidTransition:
            form.add_error("choice", _("There is no consent to withdraw"))
        except DomainError:
            form.add_error("notice", _("Choose a consent question"))
        else:
            return redirect(url_for("staff.subject", subject_id=subject_id, recorded="1"))
    return subject_page(visible_subject(db, staff, subject_id), staff, status=400,
                        form_errors=form.summary, remote=form.shown())


def _not_found(exc: NotFound) -> tuple[str, int]:
    return _error_page(HTTPNotFound())


bp.register_error_handler(NotFound, _not_found)


@bp.post("/holdings/<uuid:subject_id>")
@staff_required(OFFICER)
def add_holding(subject_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    """Record by hand that this agency holds records on the person under a reference."""
    staff = current()
    db = database.session()
    person = visible_subject(db, staff, subject_id)
    form = HoldingForm()
    if form.validate() and form.since.data is not None:
        try:
            put_holding(db, staff.agency_id, form.agency_ref.data,
                        categories=form.categories.data or [], since=form.since.data,
                        actor=staff_actor(staff), subject_id=person.id)
        except Conflict:
            form.add_error("agency_ref", _("That reference is already used for someone else"))
        except DomainError:
            form.add_error("categories", _("Choose categories from the list"))
        else:
            return redirect(url_for("staff.subject", subject_id=subject_id, recorded="1"))
    return subject_page(person, staff, status=400, form_errors=form.summary,
                        holding_form=form.shown())


@bp.post("/holdings/<uuid:subject_id>/<int:holding_id>/end")
@staff_required(OFFICER)
def end_holding(subject_id: uuid.UUID, holding_id: int) -> BaseResponse:
    """Record that this agency no longer holds records under one of its references."""
    staff = current()
    db = database.session()
    visible_subject(db, staff, subject_id)
    holding = db.get(Holding, holding_id)
    if holding is None or holding.agency_id != staff.agency_id \
            or holding.subject_id != subject_id or holding.ended_at is not None:
        raise NotFound("no such holding")
    end(db, staff.agency_id, holding.agency_ref, actor=staff_actor(staff))
    return redirect(url_for("staff.subject", subject_id=subject_id, recorded="1"))


# --- online accounts linked to the person ----------------------------------------------------

@bp.post("/links/<uuid:subject_id>/<uuid:account_id>/revoke")
@staff_required(OFFICER)
def revoke_link(subject_id: uuid.UUID, account_id: uuid.UUID) -> BaseResponse:
    """Undo a wrong link: the account loses the records and its sessions; the person is told."""
    staff = current()
    db = database.session()
    person = visible_subject(db, staff, subject_id)
    notice = claims.unlink(db, person.id, account_id, actor=staff_actor(staff))
    mail.queue(claims.notice_email(notice, person, current_app.config["PORTAL"]))
    return redirect(url_for("staff.subject", subject_id=subject_id, unlinked="1"))


@bp.post("/codes/<uuid:subject_id>")
@staff_required(OFFICER)
def new_code(subject_id: uuid.UUID) -> str | BaseResponse:
    """A new claim code for the person in front of the officer (older unused ones stop)."""
    staff = current()
    db = database.session()
    person = visible_subject(db, staff, subject_id)
    if not IdentityCheckedForm().validate():
        return redirect(url_for("staff.subject", subject_id=subject_id, code_error="1")
                        + "#new-code")
    _claim, code = claims.reissue(db, person.id, actor=staff_actor(staff))
    return render_template("first_contact/new_code.html", person=person, claim_code=code)


@bp.post("/notices/<uuid:subject_id>/<int:notice_id>/done")
@staff_required(OFFICER)
def notice_done(subject_id: uuid.UUID, notice_id: int) -> BaseResponse:
    """Record that the person was told, by the channel they chose."""
    staff = current()
    db = database.session()
    visible_subject(db, staff, subject_id)
    claims.notice_done(db, subject_id, notice_id, staff.id, actor=staff_actor(staff))
    return redirect(url_for("staff.subject", subject_id=subject_id, recorded="1"))


@bp.post("/contact/<uuid:subject_id>")
@staff_required(OFFICER)
def contact_preferences(subject_id: uuid.UUID) -> BaseResponse:
    """Record how the person wants to be contacted and what emails to them may say."""
    form = ContactForm()
    try:
        fc.set_contact_preferences(database.session(), current(), subject_id,
                                   channel=form.contact_channel.data,
                                   wording=form.email_wording.data)
    except NotFound:
        raise
    except DomainError:
        return redirect(url_for("staff.subject", subject_id=subject_id, contact_error="1")
                        + "#contact")
    return redirect(url_for("staff.subject", subject_id=subject_id, recorded="1"))
