"""Someone reading a victim's mail learns nothing from the portal: changing a consent, staff
looking at the person and agencies checking consent send nothing to anyone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import ConsentEvent
from portal.identity.models import Role
from tests.conftest import bearer
from tests.consent.selfservice.helpers import linked_account, outbox, post
from tests.identity_helpers import login, make_staff

CHECK = {"subject": {"agency_ref": "FP-DEMO-0001"}, "recipient": "victim-care",
         "purpose": "victim-support-referral", "categories": ["contact-details"]}


def test_consent_changes_staff_views_and_checks_send_no_message(
        app: Flask, client: FlaskClient, session: Session, demo: Any,
        api_key: Callable[..., str]) -> None:
    # Given a person with an account and an email address, linked to their records
    account = linked_account(session, "FP-DEMO-0001")
    staff = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER)
    key = api_key("fenshire-police", "consent:check")
    login(client, account)
    notice_id = session.scalar(select(ConsentEvent.notice_id)
                               .where(ConsentEvent.subject_id == account.subject_id))
    session.rollback()
    # When they withdraw and give again
    assert post(client, f"/my/consents/{notice_id}/withdraw").status_code == 302
    assert post(client, f"/my/consents/{notice_id}/give").status_code == 302
    # and an officer opens their page, and an agency checks their consent
    officer = app.test_client()
    login(officer, staff)
    assert officer.get(f"/staff/subjects/{account.subject_id}").status_code == 200
    assert client.post("/api/v1/consent/check", json=CHECK,
                       headers=bearer(key)).status_code == 200
    # Then nothing was sent to anyone: each shows only on the person's own activity page
    assert outbox(app) == []
    activity = client.get("/my/activity").get_data(as_text=True)
    assert "Test Officer" not in activity
