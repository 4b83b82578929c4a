"""An agency admin manages their own agency's staff: add, roles, disable, reset the second
factor. Nobody else's staff, never partnership admin, never themselves out."""

from __future__ import annotations

import email
import re
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit import AuditEntry
from portal.identity.models import RecoveryCode, Role, StaffUser
from tests.identity_helpers import PASSWORD, login, make_staff
from tests.staff_helpers import csrf

LIST = "/staff/admin/staff"
NEW = {"name": "Morgan Jones", "email": "Morgan.Jones@fenshire-police.example",
       "roles": ["consent-officer"]}
NEW_PASSWORD = "a brand new long passphrase"


def _post(client: FlaskClient, url: str, data: dict[str, Any], page: str = LIST) -> Any:
    return client.post(url, data={"csrf_token": csrf(client, page), **data})


def _get(session: Session, staff_id: int) -> StaffUser:
    session.rollback()
    member = session.get(StaffUser, staff_id)
    assert member is not None
    session.refresh(member)
    return member


def _outbox(app: Flask) -> list[email.message.Message]:
    folder = Path(app.config["PORTAL"].instance_path) / "outbox"
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]


def _count(session: Session) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(StaffUser)) or 0)


def _admin(client: FlaskClient, session: Session, *roles: str) -> StaffUser:
    admin = make_staff(session, "fenshire-police", Role.AGENCY_ADMIN, *roles)
    login(client, admin)
    return admin


def test_a_new_member_chooses_a_password_then_must_enrol_a_second_factor(
        app: Flask, client: FlaskClient, session: Session, demo: Any) -> None:
    # Given an agency admin
    admin = _admin(client, session)
    # When they add a consent officer
    r = _post(client, LIST, NEW)
    assert r.status_code == 302
    member = session.scalar(select(StaffUser).where(
        StaffUser.email == "morgan.jones@fenshire-police.example"))
    assert member is not None
    assert (member.agency_id, member.roles, member.totp_secret) == (admin.agency_id,
                                                                    "consent-officer", None)
    assert "Morgan Jones" in client.get(LIST).get_data(as_text=True)
    # Then the member (not the admin) is emailed a link to choose a password
    [message] = _outbox(app)
    assert message["To"] == member.email
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    match = re.search(r"https?://[^/\s]+(/staff/set-password/\S+)", body)
    assert match
    link = match.group(1)
    assert "password" not in r.get_data(as_text=True).lower()
    # When the member follows it (checked for length and a matching second copy)
    newcomer = app.test_client()
    assert newcomer.get(link).status_code == 200
    for data, field in (({"password": "short", "confirm": "short"}, "password"),
                        ({"password": NEW_PASSWORD, "confirm": "other"}, "confirm")):
        r = newcomer.post(link, data={"csrf_token": csrf(newcomer, link), **data})
        assert r.status_code == 400 and f'href="#{field}"' in r.get_data(as_text=True)
    r = newcomer.post(link, data={"csrf_token": csrf(newcomer, link), "password": NEW_PASSWORD,
                                  "confirm": NEW_PASSWORD})
    assert r.status_code == 302 and "/staff/sign-in" in r.headers["Location"]
    # Then the link works only once
    assert newcomer.get(link).status_code == 404
    # And signing in with the new password leads to enrolling an authenticator, not in
    r = newcomer.post("/staff/sign-in", data={"csrf_token": csrf(newcomer), "email": NEW["email"],
                                              "password": NEW_PASSWORD})
    assert r.status_code == 302 and r.headers["Location"].endswith("/staff/second-factor")
    assert newcomer.get("/staff/").headers["Location"].endswith("/staff/second-factor")
    assert "authenticator" in newcomer.get("/staff/second-factor").get_data(as_text=True)
    # And it is all audited without the member's name or email address
    session.rollback()
    entries = session.scalars(select(AuditEntry).where(
        AuditEntry.object_type == "staff_user", AuditEntry.object_id == str(member.id))
        .order_by(AuditEntry.id)).all()
    assert [e.action for e in entries][:3] == ["staff.create", "staff.setup_link_sent",
                                               "staff.password_set"]
    assert not any("morgan" in e.details.lower() for e in entries)


def test_bad_input_on_the_add_form_saves_nothing(app: Flask, client: FlaskClient,
                                                 session: Session, demo: Any) -> None:
    admin = _admin(client, session)
    before = _count(session)
    bad = [({"name": ""}, "name"), ({"name": "x" * 201}, "name"),
           ({"name": "<script>alert(1)</script>"}, "name"), ({"email": ""}, "email"),
           ({"email": "not-an-email"}, "email"), ({"email": "a@b"}, "email"),
           ({"email": "x" * 310 + "@example.org"}, "email"),
           ({"email": admin.email.upper()}, "email"), ({"roles": []}, "roles"),
           ({"roles": ["partnership-admin"]}, "roles"),
           ({"roles": ["consent-officer", "partnership-admin"]}, "roles"),
           ({"roles": ["wizard"]}, "roles")]
    for change, field in bad:
        r = _post(client, LIST, {**NEW, **change})
        assert r.status_code == 400, change
        assert f'href="#{field}"' in r.get_data(as_text=True), change
    assert _count(session) == before
    assert _outbox(app) == []


def test_roles_change_but_never_to_partnership_admin_nor_the_admin_out_of_their_own(
        client: FlaskClient, session: Session, demo: Any) -> None:
    admin = _admin(client, session)
    member = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER)
    partner = make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN)
    url = f"{LIST}/{member.id}/roles"
    r = _post(client, url, {"roles": ["sar-officer", "agency-admin"]})
    assert r.status_code == 302
    assert _get(session, member.id).role_set == {"sar-officer", "agency-admin"}
    for roles in ([], ["partnership-admin"], ["sar-officer", "partnership-admin"], ["x"]):
        r = _post(client, url, {"roles": roles})
        assert r.status_code == 400 and 'href="#roles"' in r.get_data(as_text=True), roles
    assert _get(session, member.id).role_set == {"sar-officer", "agency-admin"}
    # A partnership admin's role is kept: only the command line grants or removes it
    r = _post(client, f"{LIST}/{partner.id}/roles", {"roles": ["sar-officer"]})
    assert r.status_code == 302
    assert _get(session, partner.id).role_set == {"sar-officer", "partnership-admin"}
    # An admin cannot take away their own agency admin role
    r = _post(client, f"{LIST}/{admin.id}/roles", {"roles": ["consent-officer"]})
    assert r.status_code == 400
    assert _get(session, admin.id).role_set == {"agency-admin"}
    session.rollback()
    changes = session.scalars(select(AuditEntry.details).where(
        AuditEntry.action == "staff.roles_change")).all()
    assert len(changes) == 2


def test_a_disabled_member_is_signed_out_at_once(app: Flask, client: FlaskClient,
                                                 session: Session, demo: Any) -> None:
    # Given a consent officer signed in on their tablet
    admin = _admin(client, session)
    member = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER)
    tablet = app.test_client()
    login(tablet, member)
    assert tablet.get("/staff/").status_code == 200
    # When their agency admin disables them
    r = _post(client, f"{LIST}/{member.id}/disable", {})
    assert r.status_code == 302
    # Then the session they already had is refused on its next request
    r = tablet.get("/staff/")
    assert r.status_code == 302 and "/staff/sign-in" in r.headers["Location"]
    # And their password no longer signs them in
    r = tablet.post("/staff/sign-in", data={"csrf_token": csrf(tablet), "email": member.email,
                                            "password": PASSWORD})
    assert r.status_code == 400
    assert _get(session, member.id).disabled_at is not None
    assert "Disabled" in client.get(LIST).get_data(as_text=True)
    # And the admin cannot disable themselves, nor the same member twice
    assert _post(client, f"{LIST}/{admin.id}/disable", {}).status_code == 400
    assert _get(session, admin.id).disabled_at is None
    assert _post(client, f"{LIST}/{member.id}/disable", {}).status_code == 400
    session.rollback()
    assert session.scalars(select(AuditEntry.action).where(
        AuditEntry.action == "staff.disable")).all() == ["staff.disable"]


def test_a_second_factor_reset_forces_a_new_enrolment(app: Flask, client: FlaskClient,
                                                      session: Session, demo: Any) -> None:
    # Given a member with an authenticator and recovery codes, signed in
    admin = _admin(client, session)
    member = make_staff(session, "fenshire-police", Role.SAR_OFFICER)
    session.add(RecoveryCode(staff_user_id=member.id, code_hash="x"))
    session.commit()
    tablet = app.test_client()
    login(tablet, member)
    # When the admin resets their second factor
    assert _post(client, f"{LIST}/{member.id}/reset-second-factor", {}).status_code == 302
    # Then the authenticator and codes are gone and the open session is ended
    again = _get(session, member.id)
    assert (again.totp_secret, again.totp_confirmed_at) == (None, None)
    assert session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.staff_user_id == member.id)) == 0
    assert "/staff/sign-in" in tablet.get("/staff/").headers["Location"]
    # And the password alone gets them only as far as enrolling a new authenticator
    r = tablet.post("/staff/sign-in", data={"csrf_token": csrf(tablet), "email": member.email,
                                            "password": PASSWORD})
    assert r.headers["Location"].endswith("/staff/second-factor")
    assert tablet.get("/staff/subjects").headers["Location"].endswith("/staff/second-factor")
    assert "authenticator" in tablet.get("/staff/second-factor").get_data(as_text=True)
    # And an admin cannot reset their own
    assert _post(client, f"{LIST}/{admin.id}/reset-second-factor", {}).status_code == 400
    assert _get(session, admin.id).totp_confirmed_at is not None


def test_another_agencys_staff_are_not_found(client: FlaskClient, session: Session,
                                             demo: Any) -> None:
    # Given an agency admin of the police and a member of Victim Care
    _admin(client, session)
    other = make_staff(session, "victim-care", Role.CONSENT_OFFICER)
    epoch = other.session_epoch
    assert other.email not in client.get(LIST).get_data(as_text=True)
    # Then every page and action about that member is "not found", and changes nothing
    assert client.get(f"{LIST}/{other.id}").status_code == 404
    for action, data in (("roles", {"roles": ["sar-officer"]}), ("disable", {}),
                         ("reset-second-factor", {}), ("setup-link", {})):
        assert _post(client, f"{LIST}/{other.id}/{action}", data).status_code == 404, action
    again = _get(session, other.id)
    assert (again.roles, again.disabled_at, again.session_epoch) == ("consent-officer", None,
                                                                     epoch)
    assert again.totp_confirmed_at is not None


def test_a_partnership_admin_alone_does_not_manage_staff(client: FlaskClient,
                                                          session: Session,
                                                          demo: Any) -> None:
    login(client, make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN))
    assert client.get(LIST).status_code == 403


def test_a_new_link_can_be_sent_and_a_bad_one_is_refused(app: Flask, client: FlaskClient,
                                                         session: Session,
                                                         demo: Any) -> None:
    _admin(client, session)
    member = make_staff(session, "fenshire-police", Role.CONSENT_OFFICER)
    assert _post(client, f"{LIST}/{member.id}/setup-link", {}).status_code == 302
    assert len(_outbox(app)) == 1
    assert app.test_client().get("/staff/set-password/forged-token").status_code == 404
