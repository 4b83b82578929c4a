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
from werkzeug.exceptions import NotFound as HTTPNotFound

from consent.check.service import CheckService
from consent.first_contact import operations as fc
from consent.forms import SearchForm
from portal import database
from portal.database import utcnow
from portal.errors import NotFound
from portal.identity import claims, sessions
from portal.identity.models import Role, StaffUser
from portal.identity.staff_views import after_staff_request, auth, current
from portal.reference import operations as ops
from portal.reference.models import Subject
from portal.ui import _error_page

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
    form = SearchForm(formdata=request.args)
    found = list(ops.search_subjects(database.session(), current(), form.q.data)) \
        if form.validate() and form.q.data else []
    return render_template("staff/subjects.html", query=form.q.data[:100], found=found,
                           form_errors=form.summary), (400 if form.summary else 200)


def subject_page(person: Subject, staff: StaffUser, *, accounts: bool = False,
                 status: int = 200, **form: Any) -> tuple[str, int]:
    """The subject page (the one place its context is built), with a form's errors and values
    when one of its forms is shown again; ``accounts`` adds the linked online accounts."""
    db = database.session()
    # Who can reach the records online is the consent officer's to check and undo.
    linked = {"links": claims.linked_accounts(db, person.id),
              "person_notices": claims.open_notices(db, person.id)} \
        if accounts and Role.CONSENT_OFFICER in staff.role_set else {}
    return render_template("staff/subject.html", subject=person, staff=staff,
                           holdings=ops.holdings_of(db, person.id, staff.agency_id),
                           choices=fc.choices_of(db, person.id, staff.agency_id),
                           notices=fc.applicable_notices(db, staff.agency_id,
                                                         person.preferred_language),
                           categories=ops.all_categories(db), now=utcnow(),
                           **linked, **form), status


@bp.get("/subjects/<uuid:subject_id>")
@sessions.staff_required(*SUBJECT_ROLES)
def subject(subject_id: uuid.UUID) -> tuple[str, int]:
    """One person's page: identity, holdings, consents. Every view is logged for the person."""
    staff = current()
    person = ops.view_subject(database.session(), staff, subject_id,
                              role=ops.role_used(staff, SUBJECT_ROLES))
    return subject_page(person, staff, accounts=True)


auth.after_request(after_staff_request)
bp.after_request(after_staff_request)


def _not_found(exc: NotFound) -> tuple[str, int]:
    return _error_page(HTTPNotFound())


bp.register_error_handler(NotFound, _not_found)


def template_safe_contact(staff: Any, subject: Any) -> str:
    """For the subject page: the access model decides whose safe contact it shows."""
    service: CheckService = current_app.extensions["consent.checks"]
    session = database.session()
    return ops.shown_safe_contact(staff, subject, consented=lambda src, dst, category:
                                  service.consented(session, subject.id, src, dst, category))
