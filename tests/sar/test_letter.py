"""The Art 15 / s45 letter says what is true for this person, neither confirm nor deny per
agency and per record leaves no trace, and the zip's index points only to what it holds."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import CheckDecision
from portal.database import get_database
from portal.errors import Invalid
from portal.identity.models import Role
from portal.reference.models import Agency, Purpose
from sar import attachments, worker
from sar import operations as ops
from sar.models import SarBundle, SarRequest, SarTask
from tests.identity_helpers import login, make_staff
from tests.sar.conftest import PNG, STAFF
from tests.staff_helpers import csrf


def _task(sar: SarRequest, slug: str) -> SarTask:
    return next(t for t in sar.tasks if t.agency.slug == slug)


def _build(app: Flask, session: Session, sar: SarRequest) -> SarBundle:
    bundle = ops.request_bundle(session, sar, staff_id=1, actor=STAFF)
    session.commit()
    with app.app_context():
        assert worker.run_once(get_database(app).sessionmaker) == "built"
    session.rollback()
    session.refresh(bundle)
    return bundle


def _outputs(bundle: SarBundle) -> tuple[str, dict[str, bytes]]:
    assert bundle.pdf is not None and bundle.archive is not None
    text = " ".join(attachments.pdf_text(bundle.pdf).split())
    with zipfile.ZipFile(io.BytesIO(bundle.archive)) as z:
        return text, {n: z.read(n) for n in z.namelist()}


def _decided(session: Session, sar: SarRequest, decision: str = "as-is",
             reason: str = "") -> None:
    for rec in ops.records(sar):
        for f in rec.files:
            attachments.record_open(session, sar, f, actor=STAFF)
            attachments.decide(session, sar, rec, f, decision, reason=reason, staff_id=1,
                               forbidden=[], actor=STAFF)


# --- Neither confirm nor deny ------------------------------------------------------------


def test_ncnd_for_an_agencys_part_leaves_nothing_of_it(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    # Given the IDVA service's part under NCND (it supplied a record) and the police's shown
    sar = filed()
    ops.supply_records(session, _task(sar, "fenshire-police"), [ops.NewRecord(
        "INC-1", "incident", "Report of 3 March", "Morgan reported damage.")], actor=STAFF)
    ops.supply_records(session, _task(sar, "fenshire-idva"), [ops.NewRecord(
        "IDVA-9", "risk", "Risk assessment", "MARAC referral discussed.")], actor=STAFF)
    with pytest.raises(Invalid):
        ops.set_task_ncnd(session, _task(sar, "fenshire-idva"), reason="", actor=STAFF)
    # (a victim service is no competent authority: a law-enforcement restriction does not fit)
    with pytest.raises(Invalid):
        ops.set_task_ncnd(session, _task(sar, "fenshire-idva"), reason="s45-4-a", actor=STAFF)
    ops.set_task_ncnd(session, _task(sar, "fenshire-idva"), reason="sch2-part1-para2",
                      actor=STAFF)
    # When the bundle is built
    text, members = _outputs(_build(app, session, sar))
    # Then the PDF, the letter and the zip say nothing of the IDVA service: not its name, not
    # that it holds nothing, not a count
    assert "Morgan reported damage" in text and "Fenshire Police" in text
    for absent in ("IDVA", "MARAC", "Risk assessment", "holds no records", "not given you"):
        assert absent not in text, absent
    records = json.loads(members["records.json"])["records"]
    assert [r["agency"] for r in records] == ["fenshire-police"]
    assert not any(b"IDVA" in data or b"MARAC" in data for data in members.values())


def test_ncnd_for_a_record_is_not_shown_counted_or_zipped(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    # Given two police records, one under NCND with a file, the other withheld
    sar = filed()
    ops.supply_records(session, _task(sar, "fenshire-police"), [
        ops.NewRecord("INC-1", "incident", "Report", "Morgan reported damage."),
        ops.NewRecord("INT-7", "intelligence", "Covert note", "Surveillance of the address.",
                      files=[("photo.png", "image/png", PNG)]),
        # (a statement the police hold as a Part 2 record, whose exemptions are Schedule 2's)
        ops.NewRecord("INC-2", "incident", "Statement", "A witness statement.",
                      regime="part2")],
        actor=STAFF)
    ops.hold_nothing(session, _task(sar, "fenshire-idva"), actor=STAFF)
    covert, withheld = ops.records(sar)[1], ops.records(sar)[2]
    ops.set_record_ncnd(session, covert, reason="s45-4-b", actor=STAFF)
    ops.withhold(session, withheld, reason="third-party", actor=STAFF)
    # Its file need not be reviewed: it never leaves
    assert attachments.unreviewed(sar) == []
    bundle = _build(app, session, sar)
    text, members = _outputs(bundle)
    assert "Morgan reported damage" in text
    assert "Covert" not in text and "Surveillance" not in text
    assert "section 45(4)(b)" not in text and "prejudicing" not in text
    # The withheld record is counted once; the NCND one not at all
    assert "Whole records withheld Information about other people (Data Protection Act 2018, " \
        "Schedule 2, Part 3, paragraph 16) 1" in text, text
    assert not [n for n in members if n.startswith("files/")]
    assert b"Surveillance" not in members["records.json"]
    assert b"INT-7" not in members["records.json"] + members["records.csv"]
    # And a release check passes
    from tests.sar.conftest import open_bundle

    open_bundle(session, bundle, 2)
    assert ops.approve(session, bundle, staff_id=2, actor=STAFF).approved


# --- The letter ---------------------------------------------------------------------------


def _decision(session: Session, subject: uuid.UUID, discloser: str, recipient: str,
              purpose: str, decision: str, at: dt.datetime) -> None:
    ids = dict(session.execute(select(Agency.slug, Agency.id)).all())
    purpose_id = session.scalar(select(Purpose.id).where(Purpose.slug == purpose))
    assert purpose_id is not None
    session.add(CheckDecision(
        evaluated_at=at, agency_id=ids[discloser], recipient_agency_id=ids[recipient],
        purpose_id=purpose_id, subject_id=subject, categories='["contact-details"]',
        decision=decision, basis="consent" if decision == "permit" else None,
        reason=None if decision == "permit" else "no_consent", result="{}",
        valid_until=at + dt.timedelta(minutes=1), audit_id=0))
    session.flush()


def test_the_letter_names_only_who_it_was_disclosed_to(
        app: Flask, session: Session, filed: Callable[..., SarRequest],
        morgan: uuid.UUID) -> None:
    # Given two agreements from the police (to Victim Care and to the resolution panel) and
    # two permitted checks on the first only, and a refused check for the IDVA service
    sar = filed()
    at = dt.datetime(2026, 4, 2, 10, tzinfo=dt.UTC)
    _decision(session, morgan, "fenshire-police", "victim-care", "victim-support-referral",
              "permit", at)
    _decision(session, morgan, "fenshire-police", "victim-care", "victim-support-referral",
              "permit", at + dt.timedelta(days=30))
    _decision(session, morgan, "fenshire-police", "fenshire-idva", "domestic-abuse-risk",
              "deny", at)
    ops.supply_records(session, _task(sar, "fenshire-police"), [ops.NewRecord(
        "INC-1", "incident", "Report", "Morgan reported damage.")], actor=STAFF)
    ops.hold_nothing(session, _task(sar, "fenshire-idva"), actor=STAFF)
    text, _members = _outputs(_build(app, session, sar))
    # Then the letter names the one recipient, its purpose and basis, times and dates
    assert ("Fenshire Police to Victim Care Fenshire, for Referral for victim support, on your "
            "consent: 2 time(s), 02/04/2026 to 02/05/2026") in text
    assert "Fen Neighbourhood Resolution Panel" not in text
    assert "Restorative justice" not in text and "Domestic abuse" not in text
    assert "The purposes relied on: Referral for victim support." in text
    assert "Answers recorded: 2 yes, 1 no." in text
    # Each controller (the agencies in the answer) with its legal name, DPO and retention
    assert "Controller: Chief Constable of Fenshire Police" in text
    assert "Data protection officer: dpo@fenshire-police.example" in text
    assert "kept for at least 6 years" in text
    assert "Controller: Fenshire Domestic Abuse Partnership" in text
    # Automated decisions, transfers, rights and the ICO
    assert "automated decision" in text and "outside the UK" in text
    assert "rectification" in text and "restricted" in text and "object" in text
    assert "Wycliffe House" in text and "0303 123 1113" in text


def test_no_disclosure_recorded_is_said_plainly(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    ops.hold_nothing(session, _task(sar, "fenshire-police"), actor=STAFF)
    ops.hold_nothing(session, _task(sar, "fenshire-idva"), actor=STAFF)
    text, _members = _outputs(_build(app, session, sar))
    assert "The portal has recorded no disclosure to another agency" in text
    assert "Victim Care" not in text and "Probation" not in text


def test_a_letter_on_behalf_is_about_the_person(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    # Given a parent's request for Morgan, to which the IDVA service holds nothing
    sar = filed()
    sar.on_behalf, sar.requester_name = True, "Sam Lee"
    sar.relationship_to_subject = "parent"
    ops.supply_records(session, _task(sar, "fenshire-police"), [ops.NewRecord(
        "INC-1", "incident", "Report", "Morgan reported damage.")], actor=STAFF)
    ops.hold_nothing(session, _task(sar, "fenshire-idva"), actor=STAFF)
    text, _members = _outputs(_build(app, session, sar))
    assert "Dear Sam Lee" in text and "on behalf of Morgan Lee" in text
    assert "The partnership holds these records about Morgan Lee." in text
    assert "This agency holds no records about Morgan Lee." in text
    assert "about you" not in text


# --- The zip's index ----------------------------------------------------------------------


def test_the_index_points_to_no_file_the_zip_does_not_hold(
        app: Flask, session: Session, filed: Callable[..., SarRequest]) -> None:
    # Given a record whose file is withheld
    sar = filed()
    ops.supply_records(session, _task(sar, "fenshire-police"), [ops.NewRecord(
        "INC-1", "incident", "Report", "See photo.",
        files=[("informant-face.png", "image/png", PNG)], regime="part2")], actor=STAFF)
    ops.hold_nothing(session, _task(sar, "fenshire-idva"), actor=STAFF)
    _decided(session, sar, "withheld", "third-party")
    bundle = _build(app, session, sar)
    _text, members = _outputs(bundle)
    # Then the index lists it as withheld, with its reason, and with no path
    [row] = json.loads(members["records.json"])["records"]
    assert row["files"] == [{"withheld": True, "reason": row["files"][0]["reason"]}]
    assert "paragraph 16" in row["files"][0]["reason"]
    assert b"(withheld: Information about other people" in members["records.csv"]
    assert b"informant" not in members["records.json"] + members["records.csv"]
    # And a zip whose index names a file it lacks is refused by the release check
    forged = io.BytesIO()
    with zipfile.ZipFile(forged, "w") as z:
        z.writestr("records.json", json.dumps({"records": [
            {"id": "INC-1", "files": [{"file": "files/fenshire-police/1-x.png"}]}]}))
    check = attachments.check_archive(forged.getvalue(), {}, [])
    assert check.problems == ["the index names files/fenshire-police/1-x.png, which is not "
                              "in the zip"]


# --- The agency as controller -------------------------------------------------------------


def test_a_partnership_admin_sets_an_agencys_controller_details(
        client: FlaskClient, session: Session, demo: Any) -> None:
    login(client, make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN))
    agency = session.scalar(select(Agency).where(Agency.slug == "fen-housing"))
    assert agency is not None
    url = f"/staff/partnership/agencies/{agency.id}"
    page = client.get(url).get_data(as_text=True)
    assert 'id="retention_statement"' in page and "Fen Housing Association Limited" in page
    form = {"name": agency.name, "kind": agency.kind, "sar_contact": agency.sar_contact,
            "controller_name": "Fen Housing Group Ltd", "controller_address": "1 Quay, Fenton",
            "dpo_contact": "privacy@fenhousing.example",
            "retention_statement": "Tenancy files: 6 years after the tenancy ends."}
    # Bad input: every error at once, nothing typed lost
    r = client.post(url, data={"csrf_token": csrf(client, url), **form,
                               "controller_name": "<b>x</b>", "dpo_contact": "x" * 301})
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    assert 'href="#controller_name"' in page and 'href="#dpo_contact"' in page
    assert "Tenancy files: 6 years" in page
    r = client.post(url, data={"csrf_token": csrf(client, url), **form})
    assert r.status_code == 302
    session.rollback()
    session.refresh(agency)
    assert agency.controller_name == "Fen Housing Group Ltd"
    assert agency.retention_statement == "Tenancy files: 6 years after the tenancy ends."
    assert agency.dpo_contact == "privacy@fenhousing.example"
