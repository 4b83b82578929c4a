"""Partnership administration: agencies, data categories and purposes (reference data).

Each change is audited. Slugs are permanent names other systems use, so they are checked
for shape and uniqueness and never changed after creation.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound as HTTPNotFound
from werkzeug.utils import redirect
from werkzeug.wrappers import Response as BaseResponse

from portal import audit, database
from portal.audit import Actor
from portal.errors import Conflict, Invalid
from portal.identity.models import Role
from portal.identity.sessions import staff_required
from portal.models import Agency, AgencyKind, DataCategory, Purpose
from portal.staff import forms
from portal.staff.operations import staff_actor
from portal.staff.views import after_staff_request, current

bp = Blueprint("partnership", __name__, url_prefix="/staff/partnership")
bp.after_request(after_staff_request)

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
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


def _rows(kind: str) -> list[Any]:
    model = KINDS[kind]
    return list(database.session().scalars(select(model).order_by(model.slug)))


def _page(kind: str, errors: forms.Errors | None = None,
          values: dict[str, Any] | None = None) -> tuple[str, int]:
    errors = errors or []
    return render_template("staff/reference.html", kind=kind, title=TITLES[kind],
                           rows=_rows(kind), staff=current(), form_errors=errors,
                           values=values or {}, kinds=[k.value for k in AgencyKind]), \
        (400 if errors else 200)


@bp.get("/<any(agencies, categories, purposes):kind>")
@staff_required(Role.PARTNERSHIP_ADMIN)
def reference(kind: str) -> tuple[str, int]:
    """The partnership's agencies, data categories or purposes, and a form to add one."""
    return _page(kind)


@bp.post("/<any(agencies, categories, purposes):kind>")
@staff_required(Role.PARTNERSHIP_ADMIN)
def create(kind: str) -> BaseResponse | tuple[str, int]:
    """Add an agency, a data category or a purpose."""
    if kind not in KINDS:  # pragma: no cover - the URL converter allows only these
        raise HTTPNotFound()
    form = request.form
    errors: forms.Errors = []
    values: dict[str, Any] = {
        "slug": forms.text(form, "slug", errors, label=_l("the short name"), max_length=64),
        "name": forms.text(form, "name", errors, label=_l("the name"), name_like=True),
    }
    if values["slug"] and not SLUG.match(values["slug"]):
        forms.add(errors, "slug", _("The short name may contain only lower-case letters, "
                                    "digits and single hyphens, like fen-housing"))
    if kind == "agencies":
        values["kind"] = forms.choice(form, "kind", errors, {k.value for k in AgencyKind},
                                      message=_l("Choose the kind of agency"))
        values["sar_contact"] = forms.text(form, "sar_contact", errors,
                                           label=_l("the contact for subject access requests"),
                                           required=False, max_length=300, name_like=True)
    else:
        values["description"] = forms.text(form, "description", errors,
                                           label=_l("the description"), required=False,
                                           max_length=2000, name_like=True)
    if kind == "categories":
        values["special_category"] = form.get("special_category") == "yes"
        values["criminal_offence"] = form.get("criminal_offence") == "yes"
    if not errors:
        try:
            create_reference(database.session(), kind, values, actor=staff_actor(current()))
        except Conflict:
            forms.add(errors, "slug", _("That short name is already used"))
        except Invalid:
            forms.add(errors, "slug", _("The short name may contain only lower-case letters, "
                                        "digits and single hyphens, like fen-housing"))
        else:
            return redirect(url_for("partnership.reference", kind=kind, added=values["slug"]))
    return _page(kind, errors, values)
