"""Deny by default on the staff surface: every staff route, every kind of visitor.

Walks ``app.url_map`` for the routes under /staff and proves that the anonymous are sent to
sign in, that the half-signed-in (password but no second factor) are sent to the second
factor, and that each role reaches exactly the routes its rule names.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.http import access_rule, is_public
from portal.identity.models import Role
from tests.identity_helpers import login, make_staff
from tests.staff_helpers import person_of

# The staff routes that anyone may open: the two sign-in steps.
STAFF_PUBLIC = {"staff_auth.sign_in", "staff_auth.second_factor",
                "staff_setup.set_password_page"}
# Which roles may use each staff endpoint (None: any signed-in staff member).
EXPECTED: dict[str, set[str] | None] = {
    "staff_auth.sign_out": None,
    "staff.home": None,
    "staff.subjects": {Role.CONSENT_OFFICER, Role.SAR_OFFICER},
    "staff.subject": {Role.CONSENT_OFFICER, Role.SAR_OFFICER},
    "first_contact.start": {Role.CONSENT_OFFICER},
    "first_contact.who": {Role.CONSENT_OFFICER},
    "first_contact.choices": {Role.CONSENT_OFFICER},
    "first_contact.sign": {Role.CONSENT_OFFICER},
    "first_contact.done": {Role.CONSENT_OFFICER},
    "first_contact.receipt_pdf": {Role.CONSENT_OFFICER},
    "first_contact.receipt_json": {Role.CONSENT_OFFICER},
    "first_contact.email": {Role.CONSENT_OFFICER},
    "first_contact.remote": {Role.CONSENT_OFFICER},
    "first_contact.add_holding": {Role.CONSENT_OFFICER},
    "first_contact.end_holding": {Role.CONSENT_OFFICER},
    "first_contact.revoke_link": {Role.CONSENT_OFFICER},
    "first_contact.new_code": {Role.CONSENT_OFFICER},
    "first_contact.notice_done": {Role.CONSENT_OFFICER},
    "first_contact.contact_preferences": {Role.CONSENT_OFFICER},
    "staff_admin.api_keys": {Role.AGENCY_ADMIN},
    "staff_admin.create_api_key": {Role.AGENCY_ADMIN},
    "staff_admin.revoke_api_key": {Role.AGENCY_ADMIN},
    "staff_admin.register_page": {Role.PARTNERSHIP_ADMIN},
    "staff_admin.register_export": {Role.PARTNERSHIP_ADMIN},
    "partnership.reference": {Role.PARTNERSHIP_ADMIN},
    "partnership.create": {Role.PARTNERSHIP_ADMIN},
    "partnership.edit": {Role.PARTNERSHIP_ADMIN},
    "partnership.update": {Role.PARTNERSHIP_ADMIN},
    "partnership.retire": {Role.PARTNERSHIP_ADMIN},
    "agreements.index": {Role.PARTNERSHIP_ADMIN},
    "agreements.new": {Role.PARTNERSHIP_ADMIN},
    "agreements.create": {Role.PARTNERSHIP_ADMIN},
    "agreements.show": {Role.PARTNERSHIP_ADMIN},
    "agreements.edit": {Role.PARTNERSHIP_ADMIN},
    "agreements.update": {Role.PARTNERSHIP_ADMIN},
    "agreements.retire": {Role.PARTNERSHIP_ADMIN},
    # Notices (portal/staff/notices.py)
    "notices.index": {Role.PARTNERSHIP_ADMIN},
    "notices.create": {Role.PARTNERSHIP_ADMIN},
    "notices.new_draft": {Role.PARTNERSHIP_ADMIN},
    "notices.draft": {Role.PARTNERSHIP_ADMIN},
    "notices.text": {Role.PARTNERSHIP_ADMIN},
    "notices.publish_draft": {Role.PARTNERSHIP_ADMIN},
    "notices.version": {Role.PARTNERSHIP_ADMIN},
    # An agency admin's staff (portal/staff/people.py)
    "staff_people.index": {Role.AGENCY_ADMIN},
    "staff_people.add": {Role.AGENCY_ADMIN},
    "staff_people.member": {Role.AGENCY_ADMIN},
    "staff_people.roles": {Role.AGENCY_ADMIN},
    "staff_people.disable_member": {Role.AGENCY_ADMIN},
    "staff_people.reset_member_second_factor": {Role.AGENCY_ADMIN},
    "staff_people.resend_setup_link": {Role.AGENCY_ADMIN},
    # Subject access requests' staff pages (sar/views_staff.py): the partnership's
    # coordinators run requests; each agency's SAR officers review their own agency's task
    # (which task is theirs is proved in tests/sar/test_access_matrix.py)
    "sar_staff.queue": {Role.SAR_COORDINATOR, Role.SAR_OFFICER},
    "sar_staff.new_request": {Role.SAR_COORDINATOR},
    "sar_staff.detail": {Role.SAR_COORDINATOR},
    "sar_staff.document": {Role.SAR_COORDINATOR},
    "sar_staff.verify": {Role.SAR_COORDINATOR},
    "sar_staff.pause": {Role.SAR_COORDINATOR},
    "sar_staff.resume": {Role.SAR_COORDINATOR},
    "sar_staff.message": {Role.SAR_COORDINATOR},
    "sar_staff.extend": {Role.SAR_COORDINATOR},
    "sar_staff.refuse": {Role.SAR_COORDINATOR},
    "sar_staff.assign": {Role.SAR_COORDINATOR},
    "sar_staff.ncnd": {Role.SAR_COORDINATOR},
    "sar_staff.safeguarding": {Role.SAR_COORDINATOR},
    "sar_staff.build_bundle": {Role.SAR_COORDINATOR},
    "sar_staff.approve": {Role.SAR_COORDINATOR},
    "sar_staff.preview": {Role.SAR_COORDINATOR},
    "sar_staff.task": {Role.SAR_OFFICER},
    "sar_staff.redact": {Role.SAR_OFFICER},
    "sar_staff.upload_records": {Role.SAR_OFFICER},
    "sar_staff.record": {Role.SAR_OFFICER},
    "sar_staff.undo": {Role.SAR_OFFICER},
    "sar_staff.record_ncnd": {Role.SAR_OFFICER},
    "sar_staff.task_ncnd": {Role.SAR_OFFICER},
    "sar_staff.task_search": {Role.SAR_OFFICER},
    "sar_staff.search": {Role.SAR_COORDINATOR},
    "sar_staff.letter": {Role.SAR_COORDINATOR},
    "sar_report.page": {Role.SAR_COORDINATOR, Role.PARTNERSHIP_ADMIN, Role.SAR_OFFICER},
    "sar_report.csv_file": {Role.SAR_COORDINATOR, Role.PARTNERSHIP_ADMIN, Role.SAR_OFFICER},
    # The files agencies supplied with SAR records (sar/views_files.py): their reviewers only
    "sar_files.show": {Role.SAR_OFFICER},
    "sar_files.page_image": {Role.SAR_OFFICER},
    "sar_files.region": {Role.SAR_OFFICER},
    "sar_files.text": {Role.SAR_OFFICER},
    "sar_files.decision": {Role.SAR_OFFICER},
}


def _staff_routes(app: Flask, subject_id: uuid.UUID) -> list[tuple[str, str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/staff"):
            continue
        url = rule.rule.replace("<uuid:subject_id>", str(subject_id)).replace(
            "<uuid:receipt_id>", str(uuid.uuid4())).replace("<int:client_id>", "999999").replace(
            "<int:holding_id>", "999999").replace("<int:item_id>", "999999").replace(
            "<int:agreement_id>", "999999").replace(
            "<any(agencies, categories, purposes):kind>", "agencies").replace(
            "<reference>", "SAR-NONE").replace("<int:record_id>", "999999").replace(
            "<uuid:task_id>", str(uuid.uuid4())).replace("<uuid:bundle_id>", str(uuid.uuid4())
                                                         ).replace("<uuid:account_id>",
                                                                   str(uuid.uuid4()))
        for part, value in (("<int:notice_id>", "999999"), ("<int:document_id>", "999999"),
                            ("<int:file_id>", "999999"), ("<int:page>", "1"),
                            ("<language>", "cy"),
                            ("<int:number>", "1"), ("<int:staff_id>", "999999"),
                            ("<token>", "not-a-token")):
            url = url.replace(part, value)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, url))
    return out


def test_every_staff_route_is_in_the_matrix(app: Flask) -> None:
    endpoints = {e for e, _m, _u in _staff_routes(app, uuid.uuid4())}
    assert endpoints == set(EXPECTED) | STAFF_PUBLIC
    for endpoint in endpoints:
        view = app.view_functions[endpoint]
        assert access_rule(view), endpoint
        assert is_public(endpoint, view) == (endpoint in STAFF_PUBLIC), endpoint


def test_rules_name_exactly_the_expected_roles(app: Flask) -> None:
    for endpoint, roles in EXPECTED.items():
        rule = access_rule(app.view_functions[endpoint]) or ""
        assert rule.startswith("staff:"), endpoint
        named = set(rule.removeprefix("staff:").split(","))
        assert named == ({"any"} if roles is None else {str(r) for r in roles}), endpoint


def test_anonymous_visitors_are_sent_to_sign_in(app: Flask, client: FlaskClient,
                                                session: Session, demo: Any) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    subject = person_of(session, "fenshire-police")
    for endpoint, method, url in _staff_routes(app, subject.id):
        if endpoint in STAFF_PUBLIC:
            continue
        r = client.open(url, method=method)
        assert r.status_code == 302, (endpoint, method, r.status_code)
        assert "/staff/sign-in" in r.headers["Location"], endpoint


def test_second_factor_is_enforced_on_every_staff_route(app: Flask, client: FlaskClient,
                                                        session: Session, demo: Any) -> None:
    # Given a staff member holding every role, who gave their password but no code
    staff = make_staff(session, "fenshire-police", *[r.value for r in Role])
    subject = person_of(session, "fenshire-police")
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, staff, mfa=False)
    for endpoint, method, url in _staff_routes(app, subject.id):
        if endpoint in STAFF_PUBLIC:
            continue
        r = client.open(url, method=method)
        # Then every staff route sends them to the second factor, and nothing else
        assert r.status_code == 302, (endpoint, method, r.status_code)
        assert r.headers["Location"].endswith("/staff/second-factor"), endpoint


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_each_role_reaches_only_its_routes(app: Flask, client: FlaskClient, session: Session,
                                           demo: Any, role: str) -> None:
    staff = make_staff(session, "fenshire-police", role)
    subject = person_of(session, "fenshire-police")
    app.config["WTF_CSRF_ENABLED"] = False
    for endpoint, method, url in _staff_routes(app, subject.id):
        if endpoint in STAFF_PUBLIC or endpoint == "staff_auth.sign_out":
            continue
        login(client, staff)
        r = client.open(url, method=method)
        allowed = EXPECTED[endpoint]
        if allowed is None or role in allowed:
            assert r.status_code != 403, (role, endpoint, method)
            assert not (r.status_code == 302 and "sign-in" in r.headers["Location"]), \
                (role, endpoint)
        else:
            assert r.status_code == 403, (role, endpoint, method, r.status_code)
