"""Partnership administration: agencies, data categories and purposes (reference data).

Each change is audited. Slugs are permanent names other systems use, so they are checked
for shape and uniqueness and never changed after creation. Nothing is deleted: an item is
retired, which takes it out of the choices for new work while history keeps it.

Retiring an agency revokes its live API keys in the same operation (each revocation audited):
a retired agency's checks are denied anyway (``agency_inactive``), and a key left live would
still register holdings and supply SAR records. A category or purpose that a current sharing
agreement still uses cannot be retired: the agreement must be edited or retired first, so
that no check keeps permitting under something that looks retired.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound as HTTPNotFound
from werkzeug.utils import redirect
from werkzeug.wrappers import Response as BaseResponse

from portal import audit, database, forms
from portal.audit import Actor
from portal.database import utcnow
from portal.errors import Conflict, DomainError, Invalid, NotFound
from portal.identity.models import Role
from portal.identity.sessions import staff_required
from portal.identity.staff import staff_actor
from portal.identity.staff_views import after_staff_request, current
from portal.reference import apikeys
from portal.reference.forms import REFERENCE_FORMS, SLUG, SLUG_FORMAT
from portal.reference.models import (
    PUBLIC_AUTHORITY_KINDS,
    Agency,
    AgencyKind,
    ApiClient,
    DataCategory,
    LawfulBasis,
    Purpose,
    SharingAgreement,
    agreement_categories,
)

bp = Blueprint("partnership", __name__, url_prefix="/staff/partnership")
bp.after_request(after_staff_request)

KINDS: dict[str, Any] = {"agencies": Agency, "categories": DataCategory, "purposes": Purpose}
TITLES = {"agencies": _l("Agencies"), "categories": _l("Data categories"),
          "purposes": _l("Purposes")}


def create_reference(session: Session, kind: str, values: dict[str, Any], *,
                     actor: Actor) -> Any:
    """Create an agency, data category or purpose; a slug already taken is a Conflict."""
    model = KINDS[kind]
    if not SLUG.match(values["slug"]):
        raise Invalid("bad slug", field="slug")
    if session.scalar(select(func.count()).select_from(model).where(
            model.slug == values["slug"])):
        raise Conflict("slug taken", field="slug")
    row = model(**values)
    session.add(row)
    session.flush()
    audit.record(session, f"{kind}.create", actor, object_type=kind, object_id=str(row.id),
                 details={k: v for k, v in values.items() if isinstance(v, str | bool)})
    return row


class StillUsed(Conflict):
    """A change refused because current sharing agreements depend on the item."""

    def __init__(self, message: str, references: list[str], *, field: str) -> None:
        super().__init__(message, field=field)
        self.references = references


# What each kind lets an admin change (the slug never changes).
EDITABLE = {"agencies": ("name", "kind", "sar_contact", "controller_name", "controller_address",
                         "dpo_contact", "retention_statement"),
            "categories": ("name", "description", "special_category", "criminal_offence"),
            "purposes": ("name", "description")}
# Contacts may name a person: the audit says that they changed, not what they were.
_NOT_LOGGED = frozenset({"sar_contact", "dpo_contact"})


def is_retired(row: Any) -> bool:
    """True for a retired agency, category or purpose."""
    return (not row.active) if isinstance(row, Agency) else row.retired_at is not None


def _item(session: Session, kind: str, item_id: int) -> Any:
    row = session.get(KINDS[kind], item_id)
    if row is None:
        raise NotFound(f"no such {kind} row")
    return row


def _current_agreements_using(session: Session, kind: str, row: Any) -> list[SharingAgreement]:
    query = select(SharingAgreement).where(SharingAgreement.retired_at.is_(None))
    if kind == "categories":
        query = query.join(agreement_categories,
                           agreement_categories.c.agreement_id == SharingAgreement.id).where(
            agreement_categories.c.category_id == row.id)
    elif kind == "purposes":
        query = query.where(SharingAgreement.purpose_id == row.id)
    else:
        query = query.where((SharingAgreement.from_agency_id == row.id)
                            | (SharingAgreement.to_agency_id == row.id))
    return list(session.scalars(query.order_by(SharingAgreement.reference)))


def update_reference(session: Session, kind: str, item_id: int, values: dict[str, Any], *,
                     actor: Actor) -> dict[str, Any]:
    """Change an item's editable fields; returns what changed (audited with before/after)."""
    row = _item(session, kind, item_id)
    if is_retired(row):
        raise Conflict("a retired item cannot be changed")
    if kind == "agencies" and values.get("kind") not in {k.value for k in AgencyKind}:
        raise Invalid("unknown kind of agency", field="kind")
    if kind == "categories" and values.get("special_category") and not row.special_category:
        lacking = [a.reference for a in _current_agreements_using(session, kind, row)
                   if not a.art9_condition.strip()]
        if lacking:
            raise StillUsed("agreements share it without an Art 9 condition", lacking,
                            field="special_category")
    if kind == "agencies" and values.get("kind") in PUBLIC_AUTHORITY_KINDS:
        # Legitimate interests is not a public authority's basis: a kind that makes the
        # agency one must not leave such agreements standing.
        lacking = [a.reference for a in _current_agreements_using(session, kind, row)
                   if a.from_agency_id == row.id
                   and a.lawful_basis == LawfulBasis.LEGITIMATE_INTERESTS]
        if lacking:
            raise StillUsed("agreements disclose from it on legitimate interests", lacking,
                            field="kind")
    changed: dict[str, Any] = {}
    for name in EDITABLE[kind]:
        if name in values and values[name] != getattr(row, name):
            changed[name] = ("changed" if name in _NOT_LOGGED
                             else {"before": getattr(row, name), "after": values[name]})
            setattr(row, name, values[name])
    if changed:
        session.flush()
        audit.record(session, f"{kind}.update", actor, object_type=kind, object_id=str(row.id),
                     details={"slug": row.slug, "changed": changed})
    return changed


def retire_reference(session: Session, kind: str, item_id: int, *, actor: Actor) -> Any:
    """Retire an agency, category or purpose (see the module's note for the rules)."""
    row = _item(session, kind, item_id)
    if is_retired(row):
        raise Conflict("already retired")
    details: dict[str, Any] = {"slug": row.slug}
    if kind == "agencies":
        if actor.agency_id == row.id:
            raise Conflict("staff cannot retire their own agency", field="own-agency")
        row.active = False
        now = utcnow()
        live = session.scalars(select(ApiClient).where(
            ApiClient.agency_id == row.id, ApiClient.revoked_at.is_(None),
            ApiClient.expires_at.is_(None) | (ApiClient.expires_at > now))
            .order_by(ApiClient.id)).all()
        for client in live:
            apikeys.revoke_api_key(session, client.id, actor=actor)
        details["revoked_api_keys"] = [c.id for c in live]
    else:
        using = _current_agreements_using(session, kind, row)
        if using:
            raise StillUsed("current agreements use it", [a.reference for a in using],
                            field="retire")
        row.retired_at = utcnow()
    session.flush()
    audit.record(session, f"{kind}.retire", actor, object_type=kind, object_id=str(row.id),
                 details=details)
    return row


def _rows(kind: str) -> list[Any]:
    model = KINDS[kind]
    return list(database.session().scalars(select(model).order_by(model.slug)))


def _form(kind: str, *, creating: bool, row: Any = None) -> forms.Form:
    """The form for this kind: as sent, or (given a row) showing the row's fields."""
    form_class = REFERENCE_FORMS[(kind, creating)]
    if row is None:
        return form_class()
    return form_class(formdata=None, data={name: getattr(row, name) for name in EDITABLE[kind]})


def _page(kind: str, form: forms.Form, errors: forms.Errors | None = None) -> tuple[str, int]:
    errors = errors or []
    return render_template("staff/reference.html", kind=kind, title=TITLES[kind],
                           rows=_rows(kind), staff=current(), form=form, form_errors=errors,
                           kinds=[k.value for k in AgencyKind]), (400 if errors else 200)


@bp.get("/<any(agencies, categories, purposes):kind>")
@staff_required(Role.PARTNERSHIP_ADMIN)
def reference(kind: str) -> tuple[str, int]:
    """The partnership's agencies, data categories or purposes, and a form to add one."""
    return _page(kind, _form(kind, creating=True))


@bp.post("/<any(agencies, categories, purposes):kind>")
@staff_required(Role.PARTNERSHIP_ADMIN)
def create(kind: str) -> BaseResponse | tuple[str, int]:
    """Add an agency, a data category or a purpose."""
    if kind not in KINDS:  # pragma: no cover - the URL converter allows only these
        raise HTTPNotFound()
    form = _form(kind, creating=True)
    if not form.validate():
        return _page(kind, form, forms.errors_of(form))
    errors: forms.Errors = []
    try:
        create_reference(database.session(), kind, dict(form.data),
                         actor=staff_actor(current()))
    except Conflict:
        forms.add(errors, "slug", _("That short name is already used"))
    except Invalid:
        forms.add(errors, "slug", SLUG_FORMAT)
    else:
        return redirect(url_for("partnership.reference", kind=kind, added=form.slug.data))
    return _page(kind, form, errors)


def _found(kind: str, item_id: int) -> Any:
    row = database.session().get(KINDS[kind], item_id)
    if row is None:
        raise HTTPNotFound()
    return row


def _edit_page(kind: str, row: Any, errors: forms.Errors | None = None,
               form: forms.Form | None = None) -> tuple[str, int]:
    errors = errors or []
    db = database.session()
    live_keys = 0
    if kind == "agencies":
        now = utcnow()
        live_keys = len(db.scalars(select(ApiClient.id).where(
            ApiClient.agency_id == row.id, ApiClient.revoked_at.is_(None),
            ApiClient.expires_at.is_(None) | (ApiClient.expires_at > now))).all())
    return render_template("staff/reference_edit.html", kind=kind, title=TITLES[kind],
                           row=row, retired=is_retired(row), staff=current(),
                           form=form or _form(kind, creating=False, row=row),
                           form_errors=errors, kinds=[k.value for k in AgencyKind],
                           live_keys=live_keys,
                           agreements=_current_agreements_using(db, kind, row)), \
        (400 if errors else 200)


@bp.get("/<any(agencies, categories, purposes):kind>/<int:item_id>")
@staff_required(Role.PARTNERSHIP_ADMIN)
def edit(kind: str, item_id: int) -> tuple[str, int]:
    """One agency, category or purpose: change it, or retire it."""
    return _edit_page(kind, _found(kind, item_id))


@bp.post("/<any(agencies, categories, purposes):kind>/<int:item_id>")
@staff_required(Role.PARTNERSHIP_ADMIN)
def update(kind: str, item_id: int) -> BaseResponse | tuple[str, int]:
    """Save changes to an agency, category or purpose (never its short name)."""
    row = _found(kind, item_id)
    form = _form(kind, creating=False)
    errors = [] if form.validate() else forms.errors_of(form)
    if is_retired(row):
        forms.add(errors, "name", _("This has been retired and cannot be changed"))
    if not errors:
        try:
            update_reference(database.session(), kind, item_id, dict(form.data),
                             actor=staff_actor(current()))
        except StillUsed as exc:
            if exc.field == "kind":
                forms.add(errors, "kind", _(
                    "This kind of agency is a public authority, which cannot share on "
                    "legitimate interests, and these agreements do: %(references)s. Retire "
                    "them first.", references=", ".join(exc.references)))
            else:
                forms.add(errors, "special_category", _(
                    "These sharing agreements share it without an Article 9 condition: "
                    "%(references)s. Add a condition to them first.",
                    references=", ".join(exc.references)))
        except DomainError:
            forms.add(errors, "name", _("This has been retired and cannot be changed"))
        else:
            return redirect(url_for("partnership.reference", kind=kind, changed=row.slug))
    return _edit_page(kind, row, errors, form)


@bp.post("/<any(agencies, categories, purposes):kind>/<int:item_id>/retire")
@staff_required(Role.PARTNERSHIP_ADMIN)
def retire(kind: str, item_id: int) -> BaseResponse | tuple[str, int]:
    """Retire an agency, category or purpose: gone from new choices, kept in history."""
    row = _found(kind, item_id)
    errors: forms.Errors = []
    try:
        retire_reference(database.session(), kind, item_id, actor=staff_actor(current()))
    except StillUsed as exc:
        forms.add(errors, "retire", _(
            "Current sharing agreements use it: %(references)s. Change or retire them first.",
            references=", ".join(exc.references)))
    except Conflict as exc:
        forms.add(errors, "retire", _("You cannot retire your own agency")
                  if exc.field == "own-agency" else _("This has already been retired"))
    else:
        return redirect(url_for("partnership.reference", kind=kind, retired=row.slug))
    return _edit_page(kind, row, errors)
