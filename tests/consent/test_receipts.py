"""Consent receipts: every Kantara v1.1 field, a JWS that verifies, a PDF with the choices."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import receipts
from consent.models import ConsentEvent
from portal.reference.models import Subject

KANTARA_FIELDS = {"version", "jurisdiction", "consentTimestamp", "collectionMethod",
                  "consentReceiptID", "piiPrincipalId", "piiControllers", "policyUrl",
                  "services", "sensitive", "spiCat"}
PURPOSE_FIELDS = {"purpose", "purposeCategory", "consentType", "piiCategory", "termination",
                  "thirdPartyDisclosure", "thirdPartyName"}


def _subject_events(session: Session, demo: Any, ref: str) -> tuple[Subject, list[ConsentEvent]]:
    sid = uuid.UUID(next(s for r, s, _ in demo.subjects if r == ref))
    subject = session.get(Subject, sid)
    assert subject is not None
    events = list(session.scalars(select(ConsentEvent).where(ConsentEvent.subject_id == sid)))
    return subject, events


def test_kantara_receipt_signed_and_verified(app: Flask, client: FlaskClient,
                                             session: Session, demo: Any) -> None:
    config = app.config["PORTAL"]
    subject, events = _subject_events(session, demo, "FP-DEMO-0001")
    with app.test_request_context():
        choices = receipts.load_choices(session, events)
        receipt = receipts.kantara(session, subject, choices, receipt_id="r-1", config=config)
        token = receipts.sign(receipt, config)
    assert set(receipt) >= KANTARA_FIELDS
    assert receipt["piiPrincipalId"] == str(subject.id)
    purpose = receipt["services"][0]["purposes"][0]
    assert set(purpose) >= PURPOSE_FIELDS
    assert purpose["thirdPartyName"] == "Victim Care Fenshire"
    assert receipt["piiControllers"][0]["piiController"] == "Fenshire Police"
    # The published key verifies it; a changed payload does not
    jwks = client.get("/.well-known/jwks.json").get_json()
    assert "d" not in jwks["keys"][0]
    assert receipts.verify(token, jwks) == receipt
    head, payload, sig = token.split(".")
    with pytest.raises(Exception):  # noqa: B017 - any failure to verify is the point
        receipts.verify(f"{head}.{payload[:-2]}AA.{sig}", jwks)


def test_pdf_receipt_lists_choices_in_the_persons_language(app: Flask, session: Session,
                                                           demo: Any) -> None:
    subject, events = _subject_events(session, demo, "FP-DEMO-0006")  # refused, Polish
    subject.given_name = "<b>Łucja</b>"
    with app.test_request_context("/?lang=pl"):
        choices = receipts.load_choices(session, events, language=subject.preferred_language)
        pdf = receipts.pdf(subject, choices, receipt_id="r-2", config=app.config["PORTAL"],
                           claim_code="ACDE-FGHJ-KMNP")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "<b>Łucja</b>" in text  # escaped, shown as typed, never interpreted
    assert "Przekazanie Twoich danych do Victim Care" in text
    assert "ACDE-FGHJ-KMNP" in text
