"""Records are idempotent by the agency's own id: a repeat changes nothing, a change is a new
version (refused once review has started), and only current versions are released. Every
exemption fits the regime a record was processed under (DPA 2018 Part 2 or Part 3)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.database import get_database, utcnow
from portal.errors import Conflict, Invalid
from portal.identity.models import Role, StaffUser
from portal.reference.models import Agency
from sar import attachments, worker
from sar import operations as ops
from sar.models import (
    REASON_REGIMES,
    Reason,
    Regime,
    SarBundle,
    SarRecord,
    SarRequest,
    SarTask,
    reasons_for,
)
from tests.conftest import bearer
from tests.identity_helpers import login, make_staff
from tests.sar.conftest import PNG, STAFF


def _task(sar: SarRequest, slug: str) -> SarTask:
    return next(t for t in sar.tasks if t.agency.slug == slug)


def _five(text: str = "Seen at home") -> list[dict[str, Any]]:
    return [{"id": f"INC-{i}", "kind": "incident", "title": f"Report {i}",
             "text": f"{text} ({i})", "date": "2026-03-0" + str(i + 1)} for i in range(5)]


def _post(client: FlaskClient, key: str, task: SarTask, records: list[dict[str, Any]]
          ) -> Any:
    return client.post(f"/api/v1/sar/tasks/{task.id}/records", json={"records": records},
                       headers=bearer(key))


def _rows(session: Session, task: SarTask) -> list[SarRecord]:
    session.rollback()
    return list(session.scalars(select(SarRecord).where(SarRecord.task_id == task.id)
                                .order_by(SarRecord.id)))


# --- Idempotent supply ---------------------------------------------------------------------


def test_the_same_records_twice_change_nothing(client: FlaskClient, session: Session,
                                               api_key: Callable[..., str],
                                               filed: Callable[..., SarRequest]) -> None:
    # Given the police supplied five records
    sar = filed()
    key = api_key("fenshire-police", "sar:supply")
    task = _task(sar, "fenshire-police")
    first = _post(client, key, task, _five())
    assert first.status_code == 201
    assert {r["outcome"] for r in first.get_json()["results"]} == {"created"}
    # When they post the same five again
    again = _post(client, key, task, _five())
    # Then the answer says nothing changed, and five records are held, not ten
    assert again.status_code == 200, again.get_json()
    body = again.get_json()
    assert body["records_supplied"] == 5
    assert [(r["id"], r["outcome"], r["version"]) for r in body["results"]] == [
        (f"INC-{i}", "unchanged", 1) for i in range(5)]
    assert len(_rows(session, task)) == 5


def test_a_changed_record_is_a_new_version_and_the_earlier_is_kept(
        client: FlaskClient, session: Session, api_key: Callable[..., str],
        filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    key = api_key("fenshire-police", "sar:supply")
    task = _task(sar, "fenshire-police")
    _post(client, key, task, _five())
    # When one record comes back with a correction, and a sixth is new
    changed = _five()
    changed[2]["text"] = "Seen at the shop (2)"
    changed.append({"id": "INC-9", "kind": "note", "title": "Call"})
    r = _post(client, key, task, changed)
    assert r.status_code == 201
    outcomes = {x["id"]: (x["outcome"], x["version"]) for x in r.get_json()["results"]}
    assert outcomes["INC-2"] == ("replaced", 2) and outcomes["INC-9"] == ("created", 1)
    assert outcomes["INC-0"] == ("unchanged", 1)
    assert r.get_json()["records_supplied"] == 6
    # Then both versions of INC-2 are kept, the earlier superseded
    rows = [x for x in _rows(session, task) if x.external_id == "INC-2"]
    assert [(x.version, x.superseded_at is None) for x in rows] == [(1, False), (2, True)]
    assert rows[1].text == "Seen at the shop (2)"
    session.refresh(task)
    assert len(task.records) == 6 and len(task.all_records) == 7


def test_one_id_twice_in_a_body_is_refused(client: FlaskClient, session: Session,
                                           api_key: Callable[..., str],
                                           filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    key = api_key("fenshire-police", "sar:supply")
    task = _task(sar, "fenshire-police")
    records = _five()
    records[3]["id"] = "INC-1"
    r = _post(client, key, task, records)
    assert r.status_code == 422 and r.get_json()["field"] == "records[3].id"
    assert _rows(session, task) == []


def test_a_change_after_review_started_is_refused_and_nothing_is_stored(
        client: FlaskClient, session: Session, api_key: Callable[..., str],
        filed: Callable[..., SarRequest]) -> None:
    # Given a record a reviewer has withheld
    sar = filed()
    key = api_key("fenshire-police", "sar:supply")
    task = _task(sar, "fenshire-police")
    _post(client, key, task, _five())
    session.rollback()
    record = next(x for x in task.records if x.external_id == "INC-1")
    ops.withhold(session, record, reason="s45-4-b", actor=STAFF, staff_id=1)
    session.commit()
    # When the agency sends it again changed, with a new record beside it
    changed = _five()
    changed[1]["title"] = "Report 1, corrected"
    changed.append({"id": "INC-9", "kind": "note", "title": "Call"})
    r = _post(client, key, task, changed)
    # Then it is refused with its own problem type, naming the record, and nothing is stored
    assert r.status_code == 409 and r.mimetype == "application/problem+json"
    problem = r.get_json()
    assert problem["type"] == "/api/v1/problems/record-under-review"
    assert problem["field"] == "records[1].id"
    assert len(_rows(session, task)) == 5
    # And the same content again is still a harmless no-op
    assert _post(client, key, task, _five()).status_code == 200


def test_a_file_decision_is_review_too(session: Session,
                                       filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    task = _task(sar, "fenshire-police")
    ops.supply_records(session, task, [ops.NewRecord(
        "INC-1", "incident", "Report", "text", files=[("p.png", "image/png", PNG)])],
        actor=STAFF)
    record = task.records[0]
    attachments.record_open(session, sar, record.files[0], actor=STAFF)
    attachments.decide(session, sar, record, record.files[0], "as-is", staff_id=1,
                       forbidden=[], actor=STAFF)
    with pytest.raises(ops.RecordUnderReview):
        ops.supply(session, task, [ops.NewRecord("INC-1", "incident", "Report", "new text")],
                   actor=STAFF)


def test_nothing_changes_once_a_bundle_is_approved(client: FlaskClient, session: Session,
                                                   api_key: Callable[..., str],
                                                   filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    key = api_key("fenshire-police", "sar:supply")
    task = _task(sar, "fenshire-police")
    _post(client, key, task, _five())
    session.rollback()
    session.add(SarBundle(request_id=sar.id, state="built", approved_at=utcnow()))
    session.commit()
    changed = _five("Changed")
    r = _post(client, key, task, changed)
    assert r.status_code == 409
    assert r.get_json()["type"] == "/api/v1/problems/bundle-approved"


def test_an_earlier_version_cannot_be_reviewed(session: Session,
                                               filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    task = _task(sar, "fenshire-police")
    ops.supply_records(session, task, [ops.NewRecord("INC-1", "k", "t", "old")], actor=STAFF)
    old = task.records[0]
    ops.supply_records(session, task, [ops.NewRecord("INC-1", "k", "t", "new")], actor=STAFF)
    with pytest.raises(Conflict, match="earlier version"):
        ops.withhold(session, old, reason="s45-4-b", actor=STAFF, staff_id=1)
    with pytest.raises(Conflict, match="earlier version"):
        ops.redact(session, old, "old", reason="s45-4-e", staff_id=1, actor=STAFF)


def _text(pdf: bytes) -> str:
    return " ".join(" ".join(p.extract_text() or "" for p in
                             PdfReader(io.BytesIO(pdf)).pages).split())


def _build(app: Flask, session: Session, sar: SarRequest) -> SarBundle:
    bundle = ops.request_bundle(session, sar, staff_id=1, actor=STAFF)
    session.commit()
    with app.app_context():
        assert worker.run_once(get_database(app).sessionmaker) == "built"
    session.rollback()
    session.refresh(bundle)
    return bundle


def test_the_bundle_holds_only_current_versions(app: Flask, session: Session,
                                                filed: Callable[..., SarRequest]) -> None:
    # Given a record replaced by a corrected version, and a bundle built before that
    sar = filed()
    police, idva = _task(sar, "fenshire-police"), _task(sar, "fenshire-idva")
    ops.supply_records(session, police, [ops.NewRecord(
        "INC-1", "incident", "Report", "Morgan saw a blue van")], actor=STAFF)
    ops.hold_nothing(session, idva, actor=STAFF)
    stale = _build(app, session, sar)
    ops.supply_records(session, police, [ops.NewRecord(
        "INC-1", "incident", "Report", "Morgan saw a green lorry")], actor=STAFF)
    session.commit()
    # Then the earlier build is set aside: it holds the earlier version
    session.refresh(stale)
    assert stale.state == "failed" and "replaced" in stale.error
    # And a new build holds the current version only
    bundle = _build(app, session, sar)
    assert bundle.pdf is not None
    text = _text(bundle.pdf)
    assert "green lorry" in text and "blue van" not in text


# --- Regimes -------------------------------------------------------------------------------


def test_every_reason_has_its_regime_in_one_mapping() -> None:
    assert set(REASON_REGIMES) == set(Reason)
    assert Reason.S45_4_B not in reasons_for("part2")
    assert Reason.THIRD_PARTY not in reasons_for("part3")
    assert Reason.OTHER in reasons_for("part2") and Reason.OTHER in reasons_for("part3")


def test_a_records_regime_defaults_from_its_agency_and_may_be_given(
        client: FlaskClient, session: Session, api_key: Callable[..., str],
        filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    police = api_key("fenshire-police", "sar:supply")
    idva = api_key("fenshire-idva", "sar:supply")
    assert session.scalar(select(Agency.competent_authority).where(
        Agency.slug == "fenshire-police")) is True
    # An IDVA service is no competent authority: it may not say Part 3
    r = _post(client, idva, _task(sar, "fenshire-idva"),
              [{"id": "N-1", "kind": "note", "title": "t", "regime": "part3"}])
    assert r.status_code == 422 and r.get_json()["field"] == "records[0].regime"
    r = _post(client, idva, _task(sar, "fenshire-idva"),
              [{"id": "N-1", "kind": "note", "title": "t", "regime": "part9"}])
    assert r.status_code == 422 and r.get_json()["field"] == "records[0].regime"
    assert _post(client, idva, _task(sar, "fenshire-idva"),
                 [{"id": "N-1", "kind": "note", "title": "t"}]).status_code == 201
    # The police's records are Part 3 unless one is said to be Part 2 (say, an HR file)
    assert _post(client, police, _task(sar, "fenshire-police"), [
        {"id": "A", "kind": "k", "title": "t"},
        {"id": "B", "kind": "k", "title": "t", "regime": "part2"}]).status_code == 201
    session.rollback()
    regimes = {r.external_id: r.regime for r in session.scalars(select(SarRecord))}
    assert regimes == {"N-1": "part2", "A": "part3", "B": "part2"}
    # And a changed regime is a changed record
    r = _post(client, police, _task(sar, "fenshire-police"),
              [{"id": "A", "kind": "k", "title": "t", "regime": "part2"}])
    assert r.get_json()["results"][0]["outcome"] == "replaced"


def test_reasons_that_do_not_fit_the_regime_are_refused(
        session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    police, idva = _task(sar, "fenshire-police"), _task(sar, "fenshire-idva")
    ops.supply_records(session, police, [ops.NewRecord(
        "INC-1", "incident", "Report", "Witness Jane Doe", files=[("p.png", "image/png", PNG)])],
        actor=STAFF)
    ops.supply_records(session, idva, [ops.NewRecord("N-1", "note", "Note", "Jane Doe")],
                       actor=STAFF)
    part3, part2 = police.records[0], idva.records[0]
    assert (part3.regime, part2.regime) == (Regime.PART3, Regime.PART2)
    with pytest.raises(Invalid, match="Part 3") as exc:
        ops.redact(session, part3, "Jane Doe", reason="third-party", staff_id=1, actor=STAFF)
    assert exc.value.field == "reason"
    with pytest.raises(Invalid, match="Part 3"):
        ops.withhold(session, part3, reason="legal-privilege", actor=STAFF, staff_id=1)
    with pytest.raises(Invalid, match="Part 2"):
        ops.withhold(session, part2, reason="s45-4-a", actor=STAFF, staff_id=1)
    file = part3.files[0]
    attachments.record_open(session, sar, file, actor=STAFF)
    with pytest.raises(Invalid, match="Part 3"):
        attachments.decide(session, sar, part3, file, "withheld", reason="sch2-part1-para2",
                           staff_id=1, forbidden=[], actor=STAFF)
    with pytest.raises(Invalid, match="Part 3"):
        attachments.add_region(session, sar, part3, file, page=1, x=0, y=0, width=2,
                               height=2, reason="third-party", staff_id=1, actor=STAFF)
    # The fitting ones are accepted
    assert ops.redact(session, part3, "Jane Doe", reason="s45-4-e", staff_id=1,
                      actor=STAFF).reason == "s45-4-e"
    assert ops.redact(session, part2, "Jane Doe", reason="third-party", staff_id=1,
                      actor=STAFF).reason == "third-party"


def test_another_reason_names_the_provision_relied_on(
        session: Session, filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    idva = _task(sar, "fenshire-idva")
    ops.supply_records(session, idva, [ops.NewRecord("N-1", "note", "Note", "Jane Doe")],
                       actor=STAFF)
    record = idva.records[0]
    with pytest.raises(Invalid, match="provision") as exc:
        ops.withhold(session, record, reason="other", detail="it would harm her",
                     actor=STAFF, staff_id=1)
    assert exc.value.field == "ground"
    # Free text is not a legal ground
    with pytest.raises(Invalid, match="provision"):
        ops.withhold(session, record, reason="other", detail="harm",
                     ground="it seemed right", actor=STAFF, staff_id=1)
    with pytest.raises(Invalid, match="describe"):
        ops.withhold(session, record, reason="other", ground="DPA 2018 Sch 3 Part 2 para 5",
                     actor=STAFF, staff_id=1)
    ops.withhold(session, record, reason="other", detail="serious harm to her health",
                 ground="DPA 2018 Sch 3 Part 2 para 5", actor=STAFF, staff_id=1)
    assert record.withhold_ground == "DPA 2018 Sch 3 Part 2 para 5"


# --- The reviewer's page ----------------------------------------------------------------------


def _reviewer(app: Flask, client: FlaskClient, session: Session) -> StaffUser:
    staff = make_staff(session, "fenshire-police", Role.SAR_OFFICER)
    session.commit()
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, staff)
    return staff


def test_the_page_lists_fitting_reasons_refuses_others_and_shows_versions(
        app: Flask, client: FlaskClient, session: Session,
        filed: Callable[..., SarRequest]) -> None:
    # Given a police record replaced once
    sar = filed()
    task = _task(sar, "fenshire-police")
    ops.supply_records(session, task, [ops.NewRecord("INC-1", "k", "Report",
                                                     "Jane Doe drove a blue van")], actor=STAFF)
    ops.supply_records(session, task, [ops.NewRecord("INC-1", "k", "Report",
                                                     "Jane Doe drove a green lorry")],
                       actor=STAFF)
    session.commit()
    record_id = task.records[0].id
    session.rollback()
    _reviewer(app, client, session)
    # When the reviewer opens the task
    page = client.get(f"/staff/sar/tasks/{task.id}").get_data(as_text=True)
    # Then they see version 2 of 2, the earlier one readable, and only Part 3 reasons
    assert "Version 2 of 2, replaced version 1 on" in page
    assert "blue van" in page and "green lorry" in page
    review = client.get(f"/staff/sar/records/{record_id}").get_data(as_text=True)
    select_html = re.search(rf'id="record-{record_id}-reason".*?</select>', review, re.S)
    assert select_html is not None
    options = re.findall(r'<option value="([^"]+)"', select_html.group(0))
    assert options == [r.value for r in reasons_for("part3")]
    # And a Part 2 exemption is refused on the page, the error shown and the input kept
    r = client.post(f"/staff/sar/records/{record_id}/redact",
                    data={"text": "Jane Doe", "reason": "third-party"})
    assert r.status_code == 400
    body = r.get_data(as_text=True)
    assert "govuk-error-summary" in body and "does not fit this record" in body
    assert f'href="#record-{record_id}-reason"' in body
    assert ">Jane Doe</textarea>" in body
    r = client.post(f"/staff/sar/records/{record_id}/redact",
                    data={"text": "Jane Doe", "reason": "other", "detail": "x"})
    assert r.status_code == 400 and f'href="#record-{record_id}-ground"' in r.get_data(
        as_text=True)


def test_a_repeat_upload_says_nothing_changed(app: Flask, client: FlaskClient,
                                              session: Session,
                                              filed: Callable[..., SarRequest]) -> None:
    sar = filed()
    task = _task(sar, "fenshire-police")
    session.rollback()
    _reviewer(app, client, session)
    body = b'{"records": [{"id": "A", "kind": "k", "title": "t", "text": "x"}]}'
    for expected in ("1 new, 0 replaced by a new version, 0 unchanged",
                     "0 new, 0 replaced by a new version, 1 unchanged"):
        r = client.post(f"/staff/sar/tasks/{task.id}/upload",
                        data={"records": (io.BytesIO(body), "records.json")},
                        content_type="multipart/form-data", follow_redirects=True)
        assert r.status_code == 200 and expected in r.get_data(as_text=True)
    assert len(_rows(session, task)) == 1
