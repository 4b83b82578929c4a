"""Sharing-agreement pages of the back office: list, create, view with history, edit, retire.

The rules live in portal/staff/agreements.py; these views parse, authorise, call one
operation and render.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.exceptions import NotFound as HTTPNotFound
from werkzeug.utils import redirect
from werkzeug.wrappers import Response as BaseResponse

from consent import agreements as ops
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
MESSAGES = {
    "reference-format": _l("The reference may contain only capital letters, digits and single "
                           "hyphens, like FEN-ISA-010"),
    "reference-taken": _l("That reference is already used by another agreement"),
    "agency-unknown": _l("Choose an agency that has not been retired"),
    "same-agency": _l("Choose a different agency to share with: an agency cannot share with "
                      "itself"),
    "purpose-unknown": _l("Choose a purpose that has not been retired"),
    "basis-unknown": _l("Choose the lawful basis"),
    "gateway-required": _l("Enter the statutory gateway: this lawful basis rests on a law, so "
                           "name the law"),
    "art9-required": _l("Enter the Article 9 condition: a chosen category is special category "
                        "data"),
    "dates-order": _l("The end date must be after the start date"),
    "categories-required": _l("Choose at least one data category"),
    "category-unknown": _l("Choose only data categories that have not been retired"),
    "route-locked": _l("People rely on this agreement, so who shares with whom and why cannot "
                       "change: create a new agreement instead"),
    "categories-widened": _l("People consented to this agreement as it is, so no category can "
                             "be added: create a new agreement and ask for consent again"),
    "basis-locked": _l("People rely on this agreement, so its lawful basis cannot change to or "
                       "from consent: create a new agreement instead"),
    "basis-public-authority": _l("Legitimate interests is not a lawful basis for a public "
                                 "authority sharing for its tasks: choose public task or "
                                 "another basis"),
    # Translators: a route is one agency sharing with another for one purpose.
    "route-consent-based": _l("People were asked for consent to share these categories on this "
                              "route, so another basis cannot share them here: create an "
                              "agreement for a different purpose"),
    "route-statutory": _l("An agreement in force already shares these categories on this "
                          "route without consent, so consent cannot be asked for them here"),
}


def _day(value: dt.datetime | None) -> str:
    return value.date().isoformat() if value is not None else ""


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 10 else None


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


def _form_values(agreement: SharingAgreement) -> dict[str, Any]:
    return {"title": agreement.title, "from_agency": str(agreement.from_agency_id),
            "to_agency": str(agreement.to_agency_id), "purpose": str(agreement.purpose_id),
            "lawful_basis": agreement.lawful_basis,
            "statutory_gateway": agreement.statutory_gateway,
            "art9_condition": agreement.art9_condition,
            "valid_from": _day(agreement.valid_from), "valid_to": _day(agreement.valid_to),
            "categories": [str(c.id) for c in agreement.categories]}


def _parse(errors: forms.Errors) -> tuple[dict[str, Any], ops.AgreementValues | None]:
    """The submitted form: its raw values (to show again) and, if well formed, the values."""
    form = request.form
    raw: dict[str, Any] = {name: (form.get(name) or "").strip() for name in (
        "reference", "from_agency", "to_agency", "purpose", "lawful_basis", "valid_from",
        "valid_to")}
    raw["categories"] = form.getlist("categories")
    raw["title"] = forms.text(form, "title", errors, label=_l("the title"), max_length=300,
                              name_like=True)
    raw["statutory_gateway"] = forms.text(form, "statutory_gateway", errors,
                                          label=_l("the statutory gateway"), required=False,
                                          max_length=300, name_like=True)
    raw["art9_condition"] = forms.text(form, "art9_condition", errors,
                                       label=_l("the Article 9 condition"), required=False,
                                       max_length=300, name_like=True)
    ids = {name: _int(raw[name]) for name in ("from_agency", "to_agency", "purpose")}
    for name, message in (("from_agency", _("Choose the agency that shares")),
                          ("to_agency", _("Choose the agency it shares with")),
                          ("purpose", _("Choose the purpose"))):
        if ids[name] is None:
            forms.add(errors, name, message)
    basis = forms.choice(form, "lawful_basis", errors, {b.value for b in LawfulBasis},
                         message=MESSAGES["basis-unknown"])
    start = forms.any_date(form, "valid_from", errors, label=_l("the start date"),
                           required=True)
    end = forms.any_date(form, "valid_to", errors, label=_l("the end date"))
    categories = [_int(c) for c in raw["categories"]]
    if not categories:
        forms.add(errors, "categories", MESSAGES["categories-required"])
    elif None in categories or len(categories) > 100:
        forms.add(errors, "categories", MESSAGES["category-unknown"])
    if errors or start is None:
        return raw, None
    return raw, ops.AgreementValues(
        title=raw["title"], from_agency_id=ids["from_agency"] or 0,
        to_agency_id=ids["to_agency"] or 0, purpose_id=ids["purpose"] or 0,
        lawful_basis=basis, valid_from=_start_of(start),
        valid_to=_start_of(end) if end is not None else None,
        category_ids=tuple(c for c in categories if c is not None),
        statutory_gateway=raw["statutory_gateway"], art9_condition=raw["art9_condition"])


def _problems(errors: forms.Errors, exc: ops.AgreementInvalid) -> None:
    for name, code in exc.problems:
        forms.add(errors, name, MESSAGES.get(code, MESSAGES["basis-unknown"]))


def _form_page(agreement: SharingAgreement | None, values: dict[str, Any],
               errors: forms.Errors | None = None) -> tuple[str, int]:
    errors = errors or []
    used = agreement is not None and ops.in_use(database.session(), agreement)
    locked = agreement is not None and ops.locked(agreement, used)
    return render_template("staff/agreement_form.html", agreement=agreement, used=used,
                           locked=locked,
                           values=values, form_errors=errors, staff=current(),
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
    return _form_page(None, {"categories": []})


@bp.post("/new")
@staff_required(Role.PARTNERSHIP_ADMIN)
def create() -> BaseResponse | tuple[str, int]:
    """Create a sharing agreement (version 1)."""
    errors: forms.Errors = []
    reference = forms.text(request.form, "reference", errors, label=_l("the reference"),
                           max_length=64)
    if reference and len(reference) <= 64 and not ops.REFERENCE.match(reference):
        forms.add(errors, "reference", MESSAGES["reference-format"])
    raw, values = _parse(errors)
    if values is not None and not errors:
        try:
            made = ops.create_agreement(database.session(), reference, values,
                                        actor=staff_actor(current()))
        except ops.AgreementInvalid as exc:
            _problems(errors, exc)
        else:
            return redirect(url_for("agreements.show", agreement_id=made.id, done="created"))
    return _form_page(None, raw, errors)


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
    return _form_page(agreement, _form_values(agreement))


@bp.post("/<int:agreement_id>/edit")
@staff_required(Role.PARTNERSHIP_ADMIN)
def update(agreement_id: int) -> BaseResponse | tuple[str, int]:
    """Save a change: in place if nobody relies on the agreement yet, else a new version."""
    agreement = _agreement(agreement_id)
    errors: forms.Errors = []
    raw, values = _parse(errors)
    if values is not None and not errors:
        try:
            outcome = ops.update_agreement(database.session(), agreement.id, values,
                                           actor=staff_actor(current()))
        except ops.AgreementInvalid as exc:
            _problems(errors, exc)
        except Conflict:
            forms.add(errors, "title", _("This agreement has been retired or replaced by a "
                                         "newer version, so it cannot be changed"))
        else:
            done = ("versioned" if outcome.versioned else "saved" if outcome.changed
                    else "unchanged")
            return redirect(url_for("agreements.show", agreement_id=outcome.agreement.id,
                                    done=done))
    return _form_page(agreement, raw, errors)


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
