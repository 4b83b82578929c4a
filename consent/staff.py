"""Staff sign-in with a mandatory second factor, the staff home page and subject pages."""

from __future__ import annotations

import uuid
from typing import Any

from flask import (
    Blueprint,
    current_app,
    render_template,
    request,
)
from flask_babel import gettext as _

from portal import database, forms
from portal.database import utcnow
from portal.errors import NotFound
from portal.identity import sessions
from portal.identity.models import Role
from portal.identity.staff_views import after_staff_request, auth, current
from portal.reference import operations as ops

bp = Blueprint("staff", __name__, url_prefix="/staff")

SUBJECT_ROLES = (Role.CONSENT_OFFICER, Role.SAR_OFFICER)


@bp.get("/")
@sessions.staff_required()
def home() -> str:
    """What this staff member can do, by role."""
    return render_template("staff/home.html", staff=current())


@bp.get("/subjects")
@sessions.staff_required(*SUBJECT_ROLES)
def subjects() -> str | tuple[str, int]:
    """Find a person known to this agency."""
    query = (request.args.get("q") or "").strip()
    errors: forms.Errors = []
    found = []
    if len(query) > 100:
        forms.add(errors, "q", _("Search for 100 characters or fewer"))
    elif query and not ops.search_words(query):
        forms.add(errors, "q", _("Enter at least %(count)d letters or digits of a name, or "
                                 "your agency's reference", count=ops.MIN_SEARCH_CHARS))
    elif query:
        found = list(ops.search_subjects(database.session(), current(), query))
    return render_template("staff/subjects.html", query=query[:100], found=found,
                           form_errors=errors), (400 if errors else 200)


@bp.get("/subjects/<uuid:subject_id>")
@sessions.staff_required(*SUBJECT_ROLES)
def subject(subject_id: uuid.UUID) -> str:
    """One person's page: identity, holdings, consents. Every view is logged for the person."""
    staff = current()
    db = database.session()
    person = ops.view_subject(db, staff, subject_id, role=ops.role_used(staff, SUBJECT_ROLES))
    from consent.first_contact import operations as fc
    from portal.identity import claims

    # Who can reach the records online is the consent officer's to check and undo.
    officer = Role.CONSENT_OFFICER in staff.role_set
    accounts = {"links": claims.linked_accounts(db, person.id),
                "person_notices": claims.open_notices(db, person.id)} if officer else {}
    return render_template("staff/subject.html", subject=person, staff=staff,
                           holdings=ops.holdings_of(db, person.id, staff.agency_id),
                           choices=fc.choices_of(db, person.id, staff.agency_id),
                           notices=fc.applicable_notices(db, staff.agency_id,
                                                         person.preferred_language),
                           categories=ops.all_categories(db), now=utcnow(), **accounts)


auth.after_request(after_staff_request)
bp.after_request(after_staff_request)


def _not_found(exc: NotFound) -> tuple[str, int]:
    from werkzeug.exceptions import NotFound as HTTPNotFound

    from portal.ui import _error_page

    return _error_page(HTTPNotFound())


bp.register_error_handler(NotFound, _not_found)


def template_safe_contact(staff: Any, subject: Any) -> str:
    """For the subject page: the access model decides whose safe contact it shows."""
    from consent.check.service import CheckService
    from portal import database
    from portal.reference.operations import shown_safe_contact

    service: CheckService = current_app.extensions["consent.checks"]
    session = database.session()
    return shown_safe_contact(staff, subject, consented=lambda src, dst, category:
                              service.consented(session, subject.id, src, dst, category))
