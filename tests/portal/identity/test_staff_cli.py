"""The staff commands: the first partnership admin, and the demo staff."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.app import create_app
from portal.audit import AuditEntry
from portal.identity.cli import DEMO_STAFF, demo_secret
from portal.identity.models import StaffUser
from tests.conftest import make_config
from tests.consent.selfservice.helpers import link_in, outbox
from tests.staff_helpers import csrf

CHOSEN = "a password the member chose"


def _sign_in(client: FlaskClient, email: str, password: str) -> int:
    return client.post("/staff/sign-in", data={"csrf_token": csrf(client), "email": email,
                                               "password": password}).status_code


def test_create_admin_prints_a_single_use_setup_link_and_no_password(
        app: Flask, client: FlaskClient, session: Session, demo: Any) -> None:
    # Given an operator who creates the first partnership admin from the command line
    result = app.test_cli_runner().invoke(args=[
        "staff", "create-admin", "--agency", "fenshire-police", "--email",
        "Head@Fenshire.example", "--name", "Pat Head"])
    assert result.exit_code == 0, result.output
    # Then no password is printed, only a set-up link (also emailed to the member)
    assert "password:" not in result.output.lower()
    link = re.search(r"https?://\S+(/staff/set-password/\S+)", result.output)
    assert link, result.output
    path = link.group(1)
    assert [link_in(m) for m in outbox(app)] == [path]
    member = session.scalar(select(StaffUser).where(StaffUser.email == "head@fenshire.example"))
    assert member is not None
    actions = list(session.scalars(select(AuditEntry.action).where(
        AuditEntry.object_type == "staff_user", AuditEntry.object_id == str(member.id))
        .order_by(AuditEntry.id)))
    assert actions == ["staff.create", "staff.setup_link_sent"]
    # And nothing in the output signs in as the member
    secrets = [w for w in result.output.split() if len(w) >= 20]
    assert 1 <= len(secrets) <= 3, secrets
    for word in [*secrets, path.rsplit("/", 1)[-1]]:
        assert _sign_in(client, "head@fenshire.example", word) == 400
    # When the member chooses a password with the link, it works once
    r = client.post(path, data={"csrf_token": csrf(client, path), "password": CHOSEN,
                                "confirm": CHOSEN})
    assert r.status_code == 302
    assert client.get(path).status_code == 404
    # Then they sign in with their own password and must set up their authenticator first
    assert _sign_in(client, "head@fenshire.example", CHOSEN) == 302
    assert "<svg" in client.get("/staff/second-factor").get_data(as_text=True)
    assert client.get("/staff/").status_code == 302


def test_create_admin_refuses_bad_input(app: Flask, demo: Any) -> None:
    runner = app.test_cli_runner()
    base = ["staff", "create-admin", "--agency", "fenshire-police", "--name", "Pat"]
    assert runner.invoke(args=[*base, "--email", "a@b.example"]).exit_code == 0
    again = runner.invoke(args=[*base, "--email", "A@B.example"])
    assert again.exit_code != 0 and "already exists" in again.output
    assert runner.invoke(args=[*base, "--email", "not-an-email"]).exit_code != 0
    assert runner.invoke(args=[*base, "--email", "c@b.example", "--role",
                               "superuser"]).exit_code != 0
    nobody = runner.invoke(args=["staff", "create-admin", "--agency", "nobody", "--email",
                                 "d@b.example", "--name", "Pat"])
    assert nobody.exit_code != 0 and "no agency" in nobody.output


def test_demo_users_sign_in_with_their_printed_secrets(app: Flask, client: FlaskClient,
                                                       demo: Any) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["staff", "demo-users"])
    assert first.exit_code == 0, first.output
    assert runner.invoke(args=["staff", "demo-users"]).exit_code == 0  # idempotent
    email, _name, _roles, password = DEMO_STAFF[0]
    assert demo_secret(email) in first.output and password in first.output
    assert _sign_in(client, email, password) == 302
    r = client.post("/staff/second-factor", data={
        "csrf_token": csrf(client, "/staff/second-factor"),
        "code": pyotp.TOTP(demo_secret(email)).now()})
    assert r.status_code == 302
    assert client.get("/staff/first-contact/").status_code == 200


def test_demo_users_are_refused_in_production(db_url: str, tmp_path: Path,
                                              session: Session) -> None:
    config = make_config(db_url, tmp_path / "instance")
    prod = create_app(config)
    object.__setattr__(prod.config["PORTAL"], "env", "production")
    result = prod.test_cli_runner().invoke(args=["staff", "demo-users"])
    assert result.exit_code != 0 and "development only" in result.output
