"""Helpers for the staff back office's tests: CSRF tokens, people known to an agency."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.audit import Actor
from portal.reference import operations
from portal.reference.models import Subject

SYSTEM = Actor("system", "tests")


def csrf(client: FlaskClient, url: str = "/staff/sign-in") -> str:
    """A CSRF token for this client's session, read from a page with a form."""
    html = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def person_of(session: Session, agency: str, ref: str | None = None, *,
              given: str = "Robin", family: str = "Ashdown",
              born: dt.date | None = dt.date(1980, 5, 6), language: str = "en") -> Subject:
    """A committed subject held by this agency under a reference."""
    agency_id = operations.agency_by_slug(session, agency).id
    holding, _ = operations.put_holding(
        session, agency_id, ref or f"REF-{uuid.uuid4().hex[:8]}", categories=[],
        since=dt.date(2026, 1, 1), actor=SYSTEM,
        new_subject=operations.NewSubject(given_name=given, family_name=family,
                                          date_of_birth=born, preferred_language=language))
    session.commit()
    subject = session.get(Subject, holding.subject_id)
    assert subject is not None
    return subject
