"""Bad input on every form: a clear error in the summary, nothing saved half-way."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent.models import ConsentEvent
from portal.audit import AuditEntry
from portal.identity.models import Account
from portal.reference.models import Subject
from tests.consent.selfservice.helpers import linked_account, post
from tests.identity_helpers import PASSWORD, login, make_account

SCRIPT = '<script>alert("x")</script>'
LONG = "a" * 330 + "@example.org"


def _saved(session: Session) -> tuple[int, int, int]:
    session.rollback()
    return (session.scalar(select(func.count()).select_from(Account)) or 0,
            session.scalar(select(func.count()).select_from(ConsentEvent)) or 0,
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def _summary(html: str) -> str:
    start = html.index("govuk-error-summary")
    return html[start:html.index("</ul>", start)]


@pytest.mark.parametrize(("data", "message"), [
    ({"email": "", "password": "", "confirm": ""}, "Enter your email address"),
    ({"email": LONG, "password": PASSWORD, "confirm": PASSWORD},
     "Email address must be 320 characters or fewer"),
    ({"email": "not-an-address", "password": PASSWORD, "confirm": PASSWORD},
     "Enter an email address in the correct format"),
    ({"email": SCRIPT, "password": PASSWORD, "confirm": PASSWORD},
     "Enter an email address in the correct format"),
    ({"email": "a@example.org", "password": "short", "confirm": "short"},
     "Password must be 12 characters or more"),
    ({"email": "a@example.org", "password": "x" * 300, "confirm": "x" * 300},
     "Password must be 256 characters or fewer"),
    ({"email": "a@example.org", "password": PASSWORD, "confirm": PASSWORD + "!"},
     "The passwords do not match"),
])
def test_register_rejects_bad_input(client: FlaskClient, session: Session, demo: Any,
                                    data: dict[str, str], message: str) -> None:
    before = _saved(session)
    r = post(client, "/account/register", data)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and message in _summary(html)
    assert "<title>Error:" in html
    assert SCRIPT not in html  # what was typed comes back escaped
    assert _saved(session) == before


def test_non_latin_addresses_are_kept_intact(client: FlaskClient, session: Session,
                                             demo: Any) -> None:
    r = post(client, "/account/register", {"email": "zoë.łukasz@przykład.pl",
                                            "password": "hasło-źdźbło-王芳-2026",
                                            "confirm": "hasło-źdźbło-王芳-2026"})
    assert r.status_code == 302
    session.rollback()
    assert session.scalar(select(Account.email)) == "zoë.łukasz@przykład.pl"


@pytest.mark.parametrize(("code", "message"), [
    ("", "Enter the code from your receipt"),
    ("A" * 41, "The code must be 40 characters or fewer"),
    (SCRIPT, "The code can only contain letters, numbers and dashes"),
    ("ĄĆĘŁ-王芳", "The code can only contain letters, numbers and dashes"),
    ("ACDE-FGHJ-KMNP", "That code is not valid, has been used or has expired"),
])
def test_claim_form_rejects_bad_input(client: FlaskClient, session: Session, demo: Any,
                                      code: str, message: str) -> None:
    account = make_account(session)
    login(client, account)
    before = _saved(session)
    r = post(client, "/my/link", {"code": code})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and message in _summary(html)
    assert SCRIPT not in html
    assert _saved(session) == before


@pytest.mark.parametrize(("data", "message"), [
    ({"email": "", "password": ""}, "Enter your email address"),
    ({"email": LONG, "password": "x"}, "Email address must be 320 characters or fewer"),
    ({"email": "a@example.org", "password": ""}, "Enter your password"),
])
def test_sign_in_rejects_bad_input(client: FlaskClient, session: Session, demo: Any,
                                   data: dict[str, str], message: str) -> None:
    r = post(client, "/account/sign-in", data)
    assert r.status_code == 200 and message in _summary(r.get_data(as_text=True))


def test_reset_and_language_forms_reject_bad_input(client: FlaskClient, session: Session,
                                                   demo: Any) -> None:
    r = post(client, "/account/reset", {"email": "nope"})
    assert "Enter an email address in the correct format" in _summary(r.get_data(as_text=True))
    account = make_account(session)
    login(client, account)
    before = _saved(session)
    r = post(client, "/account/language", {"language": "xx"})
    assert r.status_code == 200 and "Select a language" in _summary(r.get_data(as_text=True))
    assert _saved(session) == before


def _pdf_text_and_fonts(data: bytes) -> tuple[str, set[str]]:
    reader = PdfReader(io.BytesIO(data))
    text = "".join(page.extract_text() for page in reader.pages).replace("\x00", "")
    fonts = {str(font.get_object()["/BaseFont"]).split("+", 1)[-1]
             for page in reader.pages for font in page["/Resources"]["/Font"].values()}
    return text, fonts


@pytest.mark.parametrize("given_name", ["Łucja 王芳 محمد", "محمد", "Siân Ŵyn"])
def test_names_with_html_and_non_latin_scripts_are_escaped_and_kept_in_the_pdf(
        client: FlaskClient, session: Session, demo: Any,
        monkeypatch: pytest.MonkeyPatch, given_name: str) -> None:
    from consent import receipts

    rendered: list[str] = []
    real = receipts.render_pdf

    def capture(html: str, **kwargs: Any) -> bytes:
        rendered.append(html)
        return real(html, **kwargs)

    monkeypatch.setattr(receipts, "render_pdf", capture)
    account = linked_account(session, "FP-DEMO-0001")
    subject = session.get(Subject, account.subject_id)
    assert subject is not None
    subject.given_name = given_name
    subject.family_name = "<b>Bold</b>"
    session.commit()
    login(client, account)
    event = session.scalar(select(ConsentEvent).where(
        ConsentEvent.subject_id == account.subject_id))
    assert event is not None
    pdf = client.get(f"/my/receipts/{event.public_id}.pdf")
    # The markup is escaped in what WeasyPrint is given, and each name is isolated, so a
    # right-to-left name cannot reorder the characters of the name beside it.
    assert "<bdi>&lt;b&gt;Bold&lt;/b&gt;</bdi>" in rendered[0] and "<b>Bold" not in rendered[0]
    assert f"<bdi>{given_name}</bdi>" in rendered[0]
    text, fonts = _pdf_text_and_fonts(pdf.data)
    # Printed as the characters typed: interpreted markup would print "Bold" alone.
    assert "<b>Bold</b>" in text
    # Every word of the name is kept, in every script (each word is one run of one script,
    # so its characters come out in reading order whatever the direction).
    for word in given_name.split():
        assert word in text
    # Drawn only with the project's own fonts, never with whatever the machine has.
    assert fonts and fonts <= {"Portal-Sans", "Portal-Sans-Bold", "Portal-Sans-Arabic",
                               "Portal-Sans-Arabic-Bold", "Portal-Sans-SC",
                               "Portal-Sans-SC-Bold"}, fonts
    export = client.get("/my/download/my-data.zip")
    import json
    import zipfile

    profile = json.loads(zipfile.ZipFile(io.BytesIO(export.data)).read("profile.json"))
    assert profile["given_name"] == given_name
    assert profile["family_name"] == "<b>Bold</b>"
