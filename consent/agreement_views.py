"""Sharing-agreement pages of the back office: list, create, view with history, edit, retire.

The rules live in consent/agreements.py and the form's checks in consent/forms.py; these
views parse, authorise, call one operation and render.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.exceptions import NotFound as HTTPNotFound
from werkzeug.utils import redirect
from werkzeug.wrappers import Response as BaseResponse

from consent import agreements as ops
from consent.forms import AGREEMENT_MESSAGES as MESSAGES
from consent.forms import AgreementForm, NewAgreementForm
from portal import database, forms
from portal.errors import Conflict, NotFound
from portal.identity.models import Role
from portal.identity.sessions import staff_required
from portal.identity.staff import staff_actor
from portal.identity.staff_views import after_staff_request, current
from portal.reference.models import Agency, DataCategory, LawfulBasis, Purpose, SharingAgreement

bp = Blueprint("agreements", __name__, url_prefix="/staff/partnership/agreements")
bp.after_request(after_staff_request)

BASIS_LABELS = {
    LawfulBasis.CONSENT: _l("Consent (the person says yes or no)"),
    LawfulBasis.PUBLIC_TASK: _l("Public task (UK GDPR Article 6(1)(e))"),
    LawfulBasis.LEGAL_OBLIGATION: _l("Legal obligation (UK GDPR Article 6(1)(c))"),
    LawfulBasis.VITAL_INTERESTS: _l("Vital interests (UK GDPR Article 6(1)(d))"),
    LawfulBasis.LAW_ENFORCEMENT: _l("Law enforcement (Data Protection Act 2018 Part 3)"),
    LawfulBasis.LEGITIMATE_INTERESTS: _l("Legitimate interests (UK GDPR Article 6(1)(f))"),
}
def _day(value: dt.datetime | None) -> str:
    return value.date().isoformat() if value is not None else ""


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _choices(agreement: SharingAgreement | None) -> dict[str, Any]:
    """What the form offers: nothing retired, except what the agreement already names."""
    db = database.session()
    keep_agencies = {agreement.from_agency_id, agreement.to_agency_id} if agreement else set()
    keep_cats = {c.id for c in agreement.categories} if agreement else set()
    return {
        "agencies": list(db.scalars(select(Agency).where(
            Agency.active | Agency.id.in_(keep_agencies)).order_by(Agency.name))),
        "purposes": list(db.scalars(select(Purpose).where(
            Purpose.retired_at.is_(None) | (Purpose.id == (agreement.purpose_id if agreement
                                                           else -1)))
            .order_by(Purpose.name))),
        "categories": list(db.scalars(select(DataCategory).where(
            DataCategory.retired_at.is_(None) | DataCategory.id.in_(keep_cats))
            .order_by(DataCategory.name))),
        "bases": [(b.value, label) for b, label in BASIS_LABELS.items()],
    }


def _filled(agreement: SharingAgreement) -> AgreementForm:
    """The change form showing the agreement as it is."""
    return AgreementForm(formdata=None, data={
        "title": agreement.title, "from_agency": str(agreement.from_agency_id),
        "to_agency": str(agreement.to_agency_id), "purpose": str(agreement.purpose_id),
        "lawful_basis": agreement.lawful_basis,
        "statutory_gateway": agreement.statutory_gateway,
        "art9_condition": agreement.art9_condition,
        "valid_from": _day(agreement.valid_from), "valid_to": _day(agreement.valid_to),
        "categories": [str(c.id) for c in agreement.categories]})


def _values(form: AgreementForm) -> ops.AgreementValues:
    """The values of a form that passed its checks."""
    start, end = form.valid_from.day, form.valid_to.day
    if start is None:  # pragma: no cover - the start date is required
        raise ValueError("the form has not passed its checks")
    return ops.AgreementValues(
        title=form.title.data, from_agency_id=forms.small_int(form.from_agency.data) or 0,
        to_agency_id=forms.small_int(form.to_agency.data) or 0,
        purpose_id=forms.small_int(form.purpose.data) or 0,
        lawful_basis=form.lawful_basis.data, valid_from=_start_of(start),
        valid_to=_start_of(end) if end is not None else None,
        category_ids=tuple(c for c in map(forms.small_int, form.categories.data)
                           if c is not None),
        statutory_gateway=form.statutory_gateway.data,
        art9_condition=form.art9_condition.data)


def _problems(errors: forms.Errors, exc: ops.AgreementInvalid) -> None:
    for name, code in exc.problems:
        forms.add(errors, name, MESSAGES.get(code, MESSAGES["basis-unknown"]))


def _form_page(agreement: SharingAgreement | None, form: AgreementForm,
               errors: forms.Errors | None = None) -> tuple[str, int]:
    errors = errors or []
    used = agreement is not None and ops.in_use(database.session(), agreement)
    locked = agreement is not None and ops.locked(agreement, used)
    return render_template("staff/agreement_form.html", agreement=agreement, used=used,
                           locked=locked,
                           form=form, form_errors=errors, staff=current(),
                           **_choices(agreement)), (400 if errors else 200)


def _agreement(agreement_id: int) -> SharingAgreement:
    try:
        return ops.get(database.session(), agreement_id)
    except NotFound:
        raise HTTPNotFound() from None


@bp.get("")
@staff_required(Role.PARTNERSHIP_ADMIN)
def index() -> str:
    """The sharing agreements: current ones, then those retired outright."""
    db = database.session()
    return render_template("staff/agreements.html", current=ops.current_agreements(db),
                           retired=ops.retired_agreements(db), staff=current(),
                           labels=BASIS_LABELS, day=_day)


@bp.get("/new")
@staff_required(Role.PARTNERSHIP_ADMIN)
def new() -> tuple[str, int]:
    """The form for a new sharing agreement."""
    return _form_page(None, NewAgreementForm(formdata=None))


@bp.post("/new")
@staff_required(Role.PARTNERSHIP_ADMIN)
def create() -> BaseResponse | tuple[str, int]:
    """Create a sharing agreement (version 1)."""
    form = NewAgreementForm()
    if not form.validate():
        return _form_page(None, form, forms.errors_of(form))
    errors: forms.Errors = []
    try:
        made = ops.create_agreement(database.session(), form.reference.data, _values(form),
                                    actor=staff_actor(current()))
    except ops.AgreementInvalid as exc:
        _problems(errors, exc)
        return _form_page(None, form, errors)
    return redirect(url_for("agreements.show", agreement_id=made.id, done="created"))


@bp.get("/<int:agreement_id>")
@staff_required(Role.PARTNERSHIP_ADMIN)
def show(agreement_id: int) -> tuple[str, int]:
    """One agreement version, the notices that cover it, and every version of it."""
    return _show_page(_agreement(agreement_id))


def _show_page(agreement: SharingAgreement, errors: forms.Errors | None = None
               ) -> tuple[str, int]:
    db = database.session()
    errors = errors or []
    return render_template("staff/agreement.html", agreement=agreement,
                           versions=ops.history(db, agreement.reference),
                           notice_versions=len(ops.covering_notice_versions(db, agreement.id)),
                           used=ops.in_use(db, agreement), labels=BASIS_LABELS, day=_day,
                           staff=current(), form_errors=errors), (400 if errors else 200)


@bp.get("/<int:agreement_id>/edit")
@staff_required(Role.PARTNERSHIP_ADMIN)
def edit(agreement_id: int) -> BaseResponse | tuple[str, int]:
    """The form to change a current agreement."""
    agreement = _agreement(agreement_id)
    if agreement.retired_at is not None:
        return redirect(url_for("agreements.show", agreement_id=agreement.id))
    return _form_page(agreement, _filled(agreement))


@bp.post("/<int:agreement_id>/edit")
@staff_required(Role.PARTNERSHIP_ADMIN)
def update(agreement_id: int) -> BaseResponse | tuple[str, int]:
    """Save a change: in place if nobody relies on the agreement yet, else a new version."""
    agreement = _agreement(agreement_id)
    form = AgreementForm()
    if not form.validate():
        return _form_page(agreement, form, forms.errors_of(form))
    errors: forms.Errors = []
    try:
        outcome = ops.update_agreement(database.session(), agreement.id, _values(form),
                                       actor=staff_actor(current()))
    except ops.AgreementInvalid as exc:
        _problems(errors, exc)
    except Conflict:
        forms.add(errors, "title", _("This agreement has been retired or replaced by a newer "
                                     "version, so it cannot be changed"))
    else:
        done = ("versioned" if outcome.versioned else "saved" if outcome.changed
                else "unchanged")
        return redirect(url_for("agreements.show", agreement_id=outcome.agreement.id,
                                done=done))
    return _form_page(agreement, form, errors)


@bp.post("/<int:agreement_id>/retire")
@staff_required(Role.PARTNERSHIP_ADMIN)
def retire(agreement_id: int) -> BaseResponse | tuple[str, int]:
    """Retire an agreement: from now on no check permits under it."""
    agreement = _agreement(agreement_id)
    try:
        ops.retire_agreement(database.session(), agreement.id, actor=staff_actor(current()))
    except Conflict:
        errors: forms.Errors = []
        forms.add(errors, "retire", _("This agreement has already been retired or replaced"))
        return _show_page(agreement, errors)
    return redirect(url_for("agreements.show", agreement_id=agreement.id, done="retired"))
