"""The staff commands: the first partnership admin, and the demo staff."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal import create_app
from portal.staff import DEMO_STAFF, demo_secret
from tests.conftest import make_config
from tests.staff_helpers import csrf


def _sign_in(client: FlaskClient, email: str, password: str) -> int:
    return client.post("/staff/sign-in", data={"csrf_token": csrf(client), "email": email,
                                               "password": password}).status_code


def test_create_admin_prints_a_one_time_password_that_signs_in(app: Flask,
                                                               client: FlaskClient,
                                                               demo: Any) -> None:
    result = app.test_cli_runner().invoke(args=[
        "staff", "create-admin", "--agency", "fenshire-police", "--email",
        "Head@Fenshire.example", "--name", "Pat Head"])
    assert result.exit_code == 0, result.output
    password = re.search(r"One-time password: (\S+)", result.output)
    assert password
    assert _sign_in(client, "head@fenshire.example", password.group(1)) == 302
    # First sign-in: the authenticator must be set up before anything else
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
