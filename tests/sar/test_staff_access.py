"""Who does what in a SAR (DESIGN §12): views shown to the person, four eyes, identity seen
and matched before verification, authority and safeguarding for requests made for others."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfWriter
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import STAFF_VIEW_ACTION, AuditEntry
from portal.errors import Conflict, Invalid
from portal.identity.models import Role, StaffUser
from portal.reference.models import Holding
from sar import operations as ops
from sar.models import SarBundle, SarDocument, SarRequest, SarView, Status
from tests.identity_helpers import login, make_account, make_staff
from tests.sar.conftest import PNG, STAFF, open_bundle, open_documents
from tests.staff_helpers import csrf, person_of


def _pdf() -> bytes:
    out = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=100, height=100)
    writer.write(out)
    return out.getvalue()


def _built(session: Session, sar: SarRequest, *, staff_id: int) -> SarBundle:
    bundle = ops.request_bundle(session, sar, staff_id=staff_id, actor=STAFF)
    bundle.state, bundle.pdf = "built", _pdf()
    session.flush()
    return bundle


def _supply(session: Session, sar: SarRequest, *, staff_id: int | None = None) -> None:
    for task in sar.tasks:
        ops.supply_records(session, task, [ops.NewRecord(
            f"{task.agency.slug}-1", "note", "A record", "Witness Jane Doe saw it.")],
            actor=STAFF, staff_id=staff_id)


# --- Every staff view of a request is shown to the person ---------------------------------


def test_every_staff_view_of_a_request_is_on_the_persons_activity_page(
        client: FlaskClient, session: Session, filed: Callable[..., SarRequest],
        morgan: uuid.UUID, officers: tuple[StaffUser, StaffUser],
        reviewers: dict[str, StaffUser]) -> None:
    # Given a request about Morgan, waiting for ID, whose document a coordinator opens
    sar = filed(verified=False)
    staff = client
    login(staff, officers[0])
    doc = ops.documents(session, sar)[0]
    assert staff.get(f"/staff/sar/{sar.reference}").status_code == 200
    assert staff.get(f"/staff/sar/{sar.reference}/documents/{doc.id}").data == PNG
    # When the coordinator verifies, and the police's reviewer opens the police task
    token = csrf(staff, f"/staff/sar/{sar.reference}")
    assert staff.post(f"/staff/sar/{sar.reference}/verify", data={
        "csrf_token": token, "subject_id": str(morgan),
        "method": "document", "note": "Passport matches the name and date of birth"}
    ).status_code == 302
    session.rollback()
    police = next(t for t in sar.tasks if t.agency.slug == "fenshire-police")
    login(staff, reviewers["fenshire-police"])
    assert staff.get(f"/staff/sar/tasks/{police.id}").status_code == 200
    # Then Morgan, signed in, sees each view (the ones before the match too): agency, role
    # and what was opened, never a name
    session.rollback()
    views = session.scalars(select(SarView).order_by(SarView.id)).all()
    # (the verify form's page was opened once more to read its CSRF token)
    assert [v.what for v in views] == ["request", "document", "request", "task"]
    login(client, make_account(session, subject_id=morgan))
    page = client.get("/my/activity").get_data(as_text=True)
    section = page.split("Staff who worked on your subject access requests</h2>")[1]
    section = section.split("</table>")[0]
    assert section.count('<tr class="govuk-table__row">') == len(views) + 1
    assert "Victim Care Fenshire" in section and "Fenshire Police" in section
    assert "sar-coordinator" in section and "sar-officer" in section
    assert "Your proof of identity or authority" in section
    assert "records for your request" in section
    assert "Test Officer" not in section
    # And their data download has the same
    data = client.get("/my/download/my-data.zip").data
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert len(json.loads(z.read("request_views.json"))) == len(views)


# --- Four eyes ------------------------------------------------------------------------------


def test_one_officer_who_redacted_and_withheld_cannot_approve_what_another_built(
        app: Flask, client: FlaskClient, session: Session,
        filed: Callable[..., SarRequest], officers: tuple[StaffUser, StaffUser]) -> None:
    # Given a police staff member who coordinates and also reviews the police's records
    both = make_staff(session, "fenshire-police", Role.SAR_COORDINATOR, Role.SAR_OFFICER)
    sar = filed(scope_everything=False, scope_agencies=("fenshire-police",))
    _supply(session, sar)
    session.commit()
    [task] = sar.tasks
    [record] = task.records
    session.rollback()  # the test's own transaction would hold SQLite's write lock
    app.config["WTF_CSRF_ENABLED"] = False
    # When they redact and withhold everything, a second coordinator builds, and the first
    # opens the bundle and presses approve
    login(client, both)
    assert client.post(f"/staff/sar/records/{record.id}/redact",
                       data={"text": "Jane Doe", "reason": "s45-4-e"}).status_code == 302
    assert client.post(f"/staff/sar/records/{record.id}/redact", data={
        "whole": "yes", "reason": "s45-4-b"}).status_code == 302
    session.rollback()
    bundle = _built(session, sar, staff_id=officers[1].id)
    session.commit()
    assert client.get(f"/staff/sar/bundles/{bundle.id}.pdf").status_code == 200
    r = client.post(f"/staff/sar/{sar.reference}/approve")
    # Then approval is refused, saying why, and nothing is released
    assert r.status_code == 400
    assert "you redacted and withheld part of this bundle" in r.get_data(as_text=True)
    session.rollback()
    session.expire_all()
    assert bundle.approved_at is None and sar.status == Status.IN_PROGRESS


@pytest.mark.parametrize("did", ["built", "supplied", "redacted", "withheld"])
def test_an_approver_who_did_any_part_is_refused(
        session: Session, filed: Callable[..., SarRequest],
        officers: tuple[StaffUser, StaffUser], did: str) -> None:
    first, second = officers
    sar = filed()
    _supply(session, sar, staff_id=second.id if did == "supplied" else None)
    record = ops.records(sar)[0]
    if did == "redacted":
        ops.redact(session, record, "Jane Doe", reason="s45-4-e", staff_id=second.id,
                   actor=STAFF)
    if did == "withheld":
        ops.withhold(session, record, reason="s45-4-e", staff_id=second.id, actor=STAFF)
    bundle = _built(session, sar, staff_id=second.id if did == "built" else first.id)
    open_bundle(session, bundle, second.id)
    with pytest.raises(Conflict, match=f"you {did}"):
        ops.approve(session, bundle, staff_id=second.id, actor=STAFF)
    assert bundle.approved_at is None


def test_the_approver_must_have_opened_the_bundle(
        session: Session, filed: Callable[..., SarRequest],
        officers: tuple[StaffUser, StaffUser]) -> None:
    first, second = officers
    sar = filed()
    _supply(session, sar)
    old = _built(session, sar, staff_id=first.id)
    open_bundle(session, old, second.id)
    # Opening an earlier bundle is not opening this one
    bundle = _built(session, sar, staff_id=first.id)
    with pytest.raises(Conflict, match="open the bundle"):
        ops.approve(session, bundle, staff_id=second.id, actor=STAFF)
    open_bundle(session, bundle, second.id)
    assert ops.approve(session, bundle, staff_id=second.id, actor=STAFF).approved


# --- Identity is seen and matched before it is verified ----------------------------------


def test_identity_cannot_be_verified_blind_or_without_a_reason(
        session: Session, filed: Callable[..., SarRequest], morgan: uuid.UUID) -> None:
    sar = filed(verified=False)
    today = dt.date(2026, 11, 3)
    # A check by document needs the documents opened, and a reason in words
    with pytest.raises(Invalid, match="open every document") as err:
        ops.verify_identity(session, sar, subject_id=morgan, staff_id=1, method="document",
                            note="looks fine", today=today, actor=STAFF)
    assert err.value.field == "method"
    open_documents(session, sar)
    with pytest.raises(Invalid) as err:
        ops.verify_identity(session, sar, subject_id=morgan, staff_id=1, method="document",
                            note="  ", today=today, actor=STAFF)
    assert err.value.field == "note"
    ops.verify_identity(session, sar, subject_id=morgan, staff_id=1, method="document",
                        note="Photo, name and date of birth match the passport",
                        today=today, actor=STAFF)
    # And the documents are kept, so the decision can be checked later
    assert sar.verification_note.startswith("Photo")
    assert all(d.content == PNG for d in session.scalars(select(SarDocument)))


def test_the_subject_is_matched_by_search_beside_what_the_requester_typed(
        client: FlaskClient, session: Session, filed: Callable[..., SarRequest],
        morgan: uuid.UUID, officers: tuple[StaffUser, StaffUser]) -> None:
    # Given another person held by the police, and a request typed as "Morgan Lee"
    other = person_of(session, "fenshire-police", "FP-OTHER-1")
    sar = filed(verified=False)
    login(client, officers[0])
    # Then the page shows what the requester typed and only the people matching it
    page = client.get(f"/staff/sar/{sar.reference}").get_data(as_text=True)
    assert "The requester typed: Morgan Lee" in page
    assert f'value="{morgan}"' in page and f'value="{other.id}"' not in page
    # And a search by date of birth or by an agency's reference finds the other person
    page = client.get(f"/staff/sar/{sar.reference}?name=&dob-day=6&dob-month=5"
                      "&dob-year=1980&reference=").get_data(as_text=True)
    assert f'value="{other.id}"' in page and f'value="{morgan}"' not in page
    page = client.get(f"/staff/sar/{sar.reference}?name=&reference=fp-other-1"
                      ).get_data(as_text=True)
    assert f'value="{other.id}"' in page and "FP-OTHER-1" in page
    # And which agencies hold records on a candidate is not shown (an IDVA service's holding
    # says much), while each candidate shown is a logged view the person sees
    page = client.get(f"/staff/sar/{sar.reference}").get_data(as_text=True)
    assert "IDVA-77" not in page and "Fenshire IDVA Service" not in page
    session.rollback()
    shown = session.scalars(select(AuditEntry.subject_id).where(
        AuditEntry.action == STAFF_VIEW_ACTION)).all()
    assert shown.count(morgan) == 2 and shown.count(other.id) == 2
    # And an empty search lists nobody (no picker of everyone)
    page = client.get(f"/staff/sar/{sar.reference}?name=&reference=").get_data(as_text=True)
    assert 'name="subject_id" type="radio"' not in page


def test_people_who_sort_first_do_not_crowd_out_the_match(session: Session,
                                                          morgan: uuid.UUID) -> None:
    # Given more people who sort before Morgan Lee than a page of candidates shows
    for i in range(MANY):
        person_of(session, "fenshire-police", f"AA-{i}", given="Morgan", family=f"Aa{i:03d}")
    # Then a search by the full name finds Morgan alone, and a wide one says there are more
    found, more = ops.match_candidates(session, name="Morgan Lee")
    assert [c.subject.id for c in found] == [morgan] and not more
    found, more = ops.match_candidates(session, name="Morgan")
    assert len(found) == ops.MAX_CANDIDATES and more


MANY = 30


# --- Requests made for someone else ---------------------------------------------------------


def test_acting_for_someone_needs_evidence_of_authority(session: Session, demo: Any) -> None:
    new = ops.NewRequest(requester_name="Jamie Walsh", requester_email="jamie@example.org",
                         subject_name="Casey Walsh", on_behalf=True,
                         relationship_to_subject="mother", documents=[("identity", PNG)])
    with pytest.raises(Invalid) as err:
        ops.file_request(session, new, actor=STAFF, today=dt.date(2026, 11, 2))
    assert err.value.field == "authority_document"
    # In person, authority is checked at the counter
    ops.file_request(session, ops.NewRequest(
        requester_name="Jamie Walsh", requester_email="jamie@example.org",
        subject_name="Casey Walsh", on_behalf=True, relationship_to_subject="mother",
        identity_method="in-person"), actor=STAFF, today=dt.date(2026, 11, 2))


def test_only_what_i_choose_needs_an_agency(session: Session, demo: Any) -> None:
    with pytest.raises(Invalid) as err:
        ops.file_request(session, ops.NewRequest(
            requester_name="Morgan Lee", requester_email="m@example.org",
            subject_name="Morgan Lee", scope_everything=False, scope_text="my case notes",
            documents=[("identity", PNG)]), actor=STAFF, today=dt.date(2026, 11, 2))
    assert err.value.field == "scope"


def test_the_public_form_says_what_is_missing(app: Flask, client: FlaskClient,
                                              demo: Any) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    base = {"requester_name": "Jamie Walsh", "requester_email": "jamie@example.org",
            "delivery": "download", "identity_method": "document", "scope": "everything"}
    r = client.post("/sar/request", content_type="multipart/form-data", data={
        **base, "on_behalf": "yes", "subject_name": "Casey Walsh", "relationship": "mother",
        "identity_document": (io.BytesIO(PNG), "passport.png")})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "There is a problem" in page
    assert 'href="#authority_document"' in page and "evidence of your authority" in page
    r = client.post("/sar/request", content_type="multipart/form-data", data={
        **base, "on_behalf": "no", "scope": "chosen", "scope_text": "my notes",
        "identity_document": (io.BytesIO(PNG), "passport.png")})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and 'href="#scope"' in page
    assert "Choose at least one agency" in page


def _for_a_child(session: Session, **kw: Any) -> tuple[SarRequest, uuid.UUID]:
    holding = session.scalar(select(Holding).where(Holding.agency_ref == "FP-DEMO-0005"))
    assert holding is not None
    sar = ops.file_request(session, ops.NewRequest(
        requester_name="Jamie Walsh", requester_email="jamie@example.org",
        subject_name="Casey Walsh", on_behalf=True, relationship_to_subject="mother",
        documents=[("identity", PNG), ("authority", PNG)], **kw), actor=STAFF,
        today=dt.date(2026, 11, 2))
    open_documents(session, sar)
    return sar, holding.subject_id


def test_release_to_someone_acting_for_a_child_needs_a_safeguarding_decision(
        session: Session, officers: tuple[StaffUser, StaffUser]) -> None:
    first, second = officers
    # Given a mother's request for her child's records, verified with her authority
    sar, casey = _for_a_child(session)
    ops.verify_identity(session, sar, subject_id=casey, staff_id=1, method="document",
                        note="Birth certificate names the requester as mother",
                        today=dt.date(2026, 11, 3), actor=STAFF)
    assert ops.needs_safeguarding(session, sar)
    _supply(session, sar)
    bundle = _built(session, sar, staff_id=first.id)
    open_bundle(session, bundle, second.id)
    # Then nothing is released until the decision is recorded, nor when it says no
    with pytest.raises(Conflict, match="safeguarding decision before release"):
        ops.approve(session, bundle, staff_id=second.id, actor=STAFF)
    with pytest.raises(Invalid):
        ops.record_safeguarding(session, sar, decision="withhold", reason="",
                                staff_id=first.id, actor=STAFF)
    ops.record_safeguarding(session, sar, decision="withhold",
                            reason="The child's social worker reports the mother as a risk",
                            staff_id=first.id, actor=STAFF)
    with pytest.raises(Conflict, match="not to release"):
        ops.approve(session, bundle, staff_id=second.id, actor=STAFF)
    ops.record_safeguarding(session, sar, decision="release",
                            reason="Reviewed with the school: no concern",
                            staff_id=first.id, actor=STAFF)
    assert ops.approve(session, bundle, staff_id=second.id, actor=STAFF).approved


def test_an_adult_at_risk_needs_the_decision_too(session: Session, demo: Any,
                                                 filed: Callable[..., SarRequest],
                                                 morgan: uuid.UUID) -> None:
    # Morgan is an adult: a request for Morgan by an advocate needs a decision only when
    # the verifier records Morgan as an adult at risk; Morgan's own request never does
    own = filed()
    assert not ops.needs_safeguarding(session, own)
    for at_risk in (False, True):
        sar = ops.file_request(session, ops.NewRequest(
            requester_name="Alex Advocate", requester_email="alex@example.org",
            subject_name="Morgan Lee", on_behalf=True, relationship_to_subject="advocate",
            documents=[("identity", PNG), ("authority", PNG)]), actor=STAFF,
            today=dt.date(2026, 11, 2))
        open_documents(session, sar)
        ops.verify_identity(session, sar, subject_id=morgan, staff_id=1, method="document",
                            note="Signed authority from Morgan", adult_at_risk=at_risk,
                            today=dt.date(2026, 11, 3), actor=STAFF)
        assert ops.needs_safeguarding(session, sar) is at_risk


def test_the_safeguarding_step_is_on_the_coordinators_page(
        app: Flask, client: FlaskClient, session: Session,
        officers: tuple[StaffUser, StaffUser]) -> None:
    sar, casey = _for_a_child(session)
    ops.verify_identity(session, sar, subject_id=casey, staff_id=1, method="document",
                        note="Birth certificate", today=dt.date(2026, 11, 3), actor=STAFF)
    session.commit()
    login(client, officers[0])
    page = client.get(f"/staff/sar/{sar.reference}").get_data(as_text=True)
    assert "Safeguarding decision" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    r = client.post(f"/staff/sar/{sar.reference}/safeguarding", data={
        "csrf_token": token.group(1), "decision": "release"})
    assert r.status_code == 400 and 'href="#safeguarding_reason"' in r.get_data(as_text=True)
    r = client.post(f"/staff/sar/{sar.reference}/safeguarding", data={
        "csrf_token": token.group(1), "decision": "release",
        "safeguarding_reason": "Checked with children's services"})
    assert r.status_code == 302
    session.rollback()
    session.expire_all()
    assert (sar.safeguarding_decision, sar.safeguarding_by_id) == ("release", officers[0].id)


def test_the_demo_staff_split_sar_work(app: Flask, session: Session, demo: Any) -> None:
    # The demo has two coordinators (one builds, one approves) and reviewers of two agencies
    result = app.test_cli_runner().invoke(args=["staff", "demo-users"])
    assert result.exit_code == 0, result.output
    session.rollback()
    sar_staff = {(s.agency.slug, s.roles) for s in session.scalars(select(StaffUser))
                 if s.role_set & {Role.SAR_COORDINATOR, Role.SAR_OFFICER}}
    assert len([a for a, r in sar_staff if r == Role.SAR_COORDINATOR]) == 2
    assert {a for a, r in sar_staff if r == Role.SAR_OFFICER} == {"fenshire-police",
                                                                  "fenshire-idva"}


def test_an_agency_admin_neither_grants_nor_removes_the_coordinator_role(
        session: Session, demo: Any) -> None:
    from portal.identity import people

    admin = make_staff(session, "fenshire-police", Role.AGENCY_ADMIN)
    member = make_staff(session, "fenshire-police", Role.SAR_COORDINATOR)
    with pytest.raises(Invalid):
        people.change_roles(session, admin, member.id, [Role.SAR_COORDINATOR.value])
    people.change_roles(session, admin, member.id, [Role.SAR_OFFICER.value])
    assert member.role_set == {Role.SAR_OFFICER, Role.SAR_COORDINATOR}


def test_a_request_is_assigned_only_to_a_coordinator(
        session: Session, filed: Callable[..., SarRequest],
        officers: tuple[StaffUser, StaffUser], reviewers: dict[str, StaffUser]) -> None:
    # Handing a request to an agency's reviewer (or to nobody that exists) would hand them
    # every agency's part of it
    sar = filed()
    for staff_id in (reviewers["victim-care"].id, 999999):
        with pytest.raises(Invalid) as err:
            ops.assign(session, sar, staff_id, actor=STAFF)
        assert err.value.field == "staff_id"
    ops.assign(session, sar, officers[1].id, actor=STAFF)
    assert sar.assigned_to_id == officers[1].id


def test_proof_of_identity_goes_when_the_request_is_refused(
        session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed(verified=False)
    ops.refuse(session, sar, reason="The same request for the fifth time this month",
               actor=STAFF)
    assert all(d.content is None and d.deleted_at for d in ops.documents(session, sar))
