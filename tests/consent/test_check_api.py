"""The consent-check API: answers, invariants 2-4, and every error case."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from consent import operations as consent_ops
from consent.check import read as check_read
from consent.check import service as check_service
from consent.check import write as check_write
from consent.models import CheckDecision, Notice
from portal import audit
from portal.audit import AuditEntry
from portal.reference import apikeys, operations
from portal.reference.models import Holding
from tests.conftest import STAFF, bearer

CHECK = "/api/v1/consent/check"


def question(ref: str = "FP-DEMO-0001", **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"subject": {"agency_ref": ref}, "recipient": "victim-care",
                            "purpose": "victim-support-referral",
                            "categories": ["contact-details", "incident-report"]}
    body.update(kw)
    return body


def ask(client: FlaskClient, key: str, body: Any, url: str = CHECK) -> Any:
    return client.post(url, json=body, headers=bearer(key))


@pytest.fixture
def key(api_key: Callable[..., str]) -> str:
    return api_key("fenshire-police", "consent:check")


def test_given_consent_permits_with_its_record(client: FlaskClient, key: str,
                                               session: Session) -> None:
    r = ask(client, key, question())
    assert r.status_code == 200
    body = r.get_json()
    assert body["decision"] == "permit" and body["basis"] == "consent"
    assert body["reason"] is None
    assert set(body["categories"]) == {"contact-details", "incident-report"}
    assert body["categories"]["contact-details"]["notice_version"] == 1
    assert body["evaluated_at"].endswith("Z") and body["valid_until"] > body["evaluated_at"]
    decision = session.get(CheckDecision, uuid.UUID(body["decision_id"]))
    assert decision is not None and decision.decision == "permit"
    entry = session.get(AuditEntry, decision.audit_id)
    assert entry is not None and entry.action == "consent.check"
    assert entry.object_id == body["decision_id"]


@pytest.mark.parametrize(("ref", "reason"), [
    ("FP-DEMO-0002", "withdrawn"), ("FP-DEMO-0003", "expired"), ("FP-DEMO-0006", "refused")])
def test_demo_subjects_are_denied_with_their_reason(client: FlaskClient, key: str, ref: str,
                                                    reason: str) -> None:
    body = ask(client, key, question(ref)).get_json()
    assert body["decision"] == "deny" and body["reason"] == reason and body["basis"] is None


def test_reconsent_required_after_a_material_change(client: FlaskClient, key: str) -> None:
    body = ask(client, key, question("FP-DEMO-0004", recipient="fenshire-idva",
                                     purpose="domestic-abuse-risk",
                                     categories=["contact-details"])).get_json()
    assert body["reason"] == "reconsent_required"


def test_statutory_sharing_permits_with_basis_and_gateway(client: FlaskClient, key: str) -> None:
    body = ask(client, key, question("FP-DEMO-0006", recipient="fenshire-nhs",
                                     purpose="safeguarding", categories=["health"])).get_json()
    assert body["decision"] == "permit" and body["basis"] == "public-task"
    assert "Children Act 2004" in body["categories"]["health"]["statutory_gateway"]


def test_no_agreement_and_category_outside_agreement(client: FlaskClient, key: str) -> None:
    body = ask(client, key, question(recipient="fen-housing")).get_json()
    assert body["reason"] == "no_agreement"
    body = ask(client, key, question(categories=["contact-details", "health"])).get_json()
    assert body["decision"] == "deny"
    assert body["categories"]["contact-details"]["decision"] == "permit"
    assert body["categories"]["health"]["reason"] == "category_not_in_agreement"


def test_inactive_agency_is_denied(client: FlaskClient, key: str, session: Session) -> None:
    agency = operations.agency_by_slug(session, "victim-care")
    agency.active = False
    session.commit()
    assert ask(client, key, question()).get_json()["reason"] == "agency_inactive"


def _shape(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in {"decision_id", "evaluated_at",
                                                       "valid_until"}}


def test_check_is_no_oracle_for_who_is_on_the_system(client: FlaskClient, key: str,
                                                     api_key: Callable[..., str],
                                                     session: Session, demo: Any) -> None:
    """Invariant 4: unknown, unlinked and unconsented subjects get the same answer."""
    # Given a subject the police hold who never consented, and one only the council holds
    council = operations.agency_by_slug(session, "fenshire-city-council")
    holding, _ = operations.put_holding(
        session, council.id, "CC-1", categories=["identity"],
        since=__import__("datetime").date(2026, 1, 1), actor=STAFF,
        new_subject=operations.NewSubject("Robin", "Hale"))
    police = operations.agency_by_slug(session, "fenshire-police")
    operations.put_holding(session, police.id, "FP-NEW", categories=["identity"],
                           since=__import__("datetime").date(2026, 1, 1), actor=STAFF,
                           new_subject=operations.NewSubject("Ash", "Young"))
    session.commit()
    demo_0001 = next(s for r, s, _ in demo.subjects if r == "FP-DEMO-0001")
    answers = [
        ask(client, key, question("FP-NEW")).get_json(),  # held, no consent
        ask(client, key, question("NOBODY-HERE")).get_json(),  # unknown reference
        ask(client, key, question(ref="x", subject={"subject_id": str(uuid.uuid4())})
            ).get_json(),  # unknown id
        ask(client, key, question(subject={"subject_id": str(holding.subject_id)})
            ).get_json(),  # exists, but not linked to the police
    ]
    # When another agency asks about a subject the police consented for, by id
    council_key = api_key("fenshire-city-council", "consent:check")
    answers.append(ask(client, council_key, question(
        subject={"subject_id": demo_0001}, recipient="victim-care")).get_json())
    # Then every answer is the same as for a subject without consent
    council_answer = answers.pop()
    assert council_answer["reason"] == "no_agreement"  # the council has no such agreement
    assert all(_shape(a) == _shape(answers[0]) for a in answers)
    assert answers[0]["reason"] == "no_consent"


def test_key_cannot_ask_as_another_agency(client: FlaskClient, api_key: Callable[..., str]
                                          ) -> None:
    """Invariant 4: the discloser is the key's agency; the body cannot change it."""
    victim_key = api_key("victim-care", "consent:check")
    r = ask(client, victim_key, {**question(), "agency": "fenshire-police"})
    assert r.status_code == 422 and r.get_json()["field"] == "agency"
    body = ask(client, victim_key, question()).get_json()
    assert body["decision"] == "deny" and body["reason"] == "no_agreement"


def test_by_subject_id_when_linked(client: FlaskClient, key: str, demo: Any) -> None:
    sid = next(s for r, s, _ in demo.subjects if r == "FP-DEMO-0001")
    body = ask(client, key, question(subject={"subject_id": sid})).get_json()
    assert body["decision"] == "permit"


def test_ended_holding_unlinks_the_subject(client: FlaskClient, key: str, session: Session,
                                           demo: Any) -> None:
    police = operations.agency_by_slug(session, "fenshire-police")
    operations.end_holding(session, police.id, "FP-DEMO-0001", actor=STAFF)
    session.commit()
    assert ask(client, key, question()).get_json()["reason"] == "no_consent"


def test_withdrawal_is_immediate(client: FlaskClient, key: str, session: Session,
                                 demo: Any) -> None:
    """Invariant 1: the first check after the withdrawal commits says deny."""
    assert ask(client, key, question()).get_json()["decision"] == "permit"
    sid = uuid.UUID(next(s for r, s, _ in demo.subjects if r == "FP-DEMO-0001"))
    notice = session.scalar(select(Notice).where(Notice.slug == "victim-support-referral"))
    assert notice is not None
    consent_ops.withdraw(session, sid, notice.id, actor=STAFF, method="phone")
    session.commit()
    assert ask(client, key, question()).get_json()["reason"] == "withdrawn"


@pytest.fixture(params=["arrays", "copy"])
def group_write(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each way PostgreSQL writes a group: one statement over arrays, or binary COPY (from
    PG_COPY_MIN_ROWS decisions on). SQLite has one way, so it runs the same test twice."""
    monkeypatch.setattr(audit, "PG_COPY_MIN_ROWS", 10**9 if request.param == "arrays" else 2)


@pytest.mark.usefixtures("group_write")
def test_batch_answers_each_question_and_logs_each(client: FlaskClient, key: str,
                                                   session: Session) -> None:
    before = session.scalar(select(func.count()).select_from(AuditEntry))
    questions = [question(), question("FP-DEMO-0002"), question("UNKNOWN")] * 10
    r = ask(client, key, {"questions": questions}, CHECK + "/batch")
    assert r.status_code == 200
    results = r.get_json()["results"]
    assert [x["decision"] for x in results[:3]] == ["permit", "deny", "deny"]
    assert len({x["decision_id"] for x in results}) == 30
    session.rollback()
    after = session.scalar(select(func.count()).select_from(AuditEntry))
    assert after == (before or 0) + 30


def test_a_batch_answers_each_question_as_a_single_check_would(
        client: FlaskClient, key: str, session: Session, demo: Any) -> None:
    # Given questions by reference and by id (several of each, so each is looked up as a
    # list), about consented, unconsented, unknown, unlinked and ended holdings
    council = operations.agency_by_slug(session, "fenshire-city-council")
    police = operations.agency_by_slug(session, "fenshire-police")
    unlinked, _ = operations.put_holding(
        session, council.id, "FP-DEMO-0003", categories=["identity"],
        since=__import__("datetime").date(2026, 1, 1), actor=STAFF,
        new_subject=operations.NewSubject("Robin", "Hale"))
    operations.end_holding(session, police.id, "FP-DEMO-0004", actor=STAFF)
    session.commit()
    ids = {r: s for r, s, _ in demo.subjects}
    questions = [question(r) for r in ("FP-DEMO-0001", "FP-DEMO-0002", "FP-DEMO-0004",
                                       "NOBODY-HERE", "FP-DEMO-0001")]
    questions += [question(subject={"subject_id": s}) for s in (
        ids["FP-DEMO-0001"], ids["FP-DEMO-0002"], ids["FP-DEMO-0004"],
        str(unlinked.subject_id), str(uuid.uuid4()))]
    # When they are asked in one batch and one at a time
    r = ask(client, key, {"questions": questions}, CHECK + "/batch")
    assert r.status_code == 200
    batch = r.get_json()["results"]
    single = [ask(client, key, q).get_json() for q in questions]
    # Then each answer is the same, consent record included
    assert [_shape(b) for b in batch] == [_shape(s) for s in single]
    assert [b["decision"] for b in batch] == ["permit", "deny", "deny", "deny", "permit",
                                              "permit", "deny", "deny", "deny", "deny"]


@pytest.mark.usefixtures("group_write")
def test_a_batch_stores_awkward_references_exactly_and_its_chain_verifies(
        client: FlaskClient, key: str, session: Session) -> None:
    # Given references a driver must escape in text form (PostgreSQL's group write sends
    # them in binary arrays or binary COPY rows): quotes, backslashes, braces, commas,
    # NUL-free control characters, Welsh and Polish letters, an emoji, and "NULL" itself
    refs = ['O\'Brien "Q"', "back\\slash", "{a,b}", "tab\tnew\nline", "NULL",
            "Llŷr Żółć", "🙂", " lead and trail "]
    # When they are asked in one batch
    r = ask(client, key, {"questions": [question(ref) for ref in refs]}, CHECK + "/batch")
    assert r.status_code == 200
    ids = [uuid.UUID(x["decision_id"]) for x in r.get_json()["results"]]
    # Then each decision keeps its reference exactly, and the audit chain verifies
    session.rollback()
    stored = {row.id: row.subject_ref for row in session.execute(
        select(CheckDecision.id, CheckDecision.subject_ref).where(CheckDecision.id.in_(ids)))}
    assert [stored[i] for i in ids] == refs
    assert audit.verify(session).ok


def test_a_large_batch_links_each_decision_to_its_own_entry_in_chain_order(
        client: FlaskClient, key: str, session: Session) -> None:
    # Given a batch large enough for PostgreSQL's COPY write, mixing answers and references
    questions = [question(), question("FP-DEMO-0002"), question("UNKNOWN")] * 40
    assert len(questions) >= audit.PG_COPY_MIN_ROWS
    # When it is asked
    r = ask(client, key, {"questions": questions}, CHECK + "/batch")
    assert r.status_code == 200
    results = r.get_json()["results"]
    # Then each decision is stored with its own audit entry, which names it
    session.rollback()
    ids = [uuid.UUID(x["decision_id"]) for x in results]
    decisions = {d.id: d for d in session.scalars(
        select(CheckDecision).where(CheckDecision.id.in_(ids)))}
    entries = {e.id: e for e in session.scalars(select(AuditEntry).where(
        AuditEntry.id.in_([d.audit_id for d in decisions.values()])))}
    assert len(decisions) == len(entries) == len(questions)
    for answer, decision_id in zip(results, ids, strict=True):
        decision = decisions[decision_id]
        entry = entries[decision.audit_id]
        assert entry.object_id == answer["decision_id"]
        assert decision.decision == answer["decision"] == json.loads(entry.details)["decision"]
    # And the entries follow one another on their chain in the order of their ids
    ordered = sorted(entries.values(), key=lambda e: e.id)
    assert len({e.chain for e in ordered}) == 1
    assert [e.seq for e in ordered] == list(range(ordered[0].seq, ordered[0].seq + len(ordered)))
    assert [e.object_id for e in ordered] == [x["decision_id"] for x in results]
    assert audit.verify(session).ok


def test_a_batch_whose_write_fails_half_way_commits_nothing(
        app: Flask, client: FlaskClient, key: str, session: Session) -> None:
    """Invariants 2 and 3: the decisions' insert fails after the entries went in; the whole
    group is rolled back and every question answers 503 deny."""
    # Given a writer whose decisions' insert the database refuses
    writer = app.extensions["consent.checks"].committer._writer.appender
    if writer.postgresql:  # a COPY whose first column claims the wrong type
        statement, types = writer._copy_linked
        broken: Any = (statement, ["text", *types[1:]])
        attribute = "_copy_linked"
    else:
        broken = writer._insert_linked.replace("check_decisions (", "check_decisions (nope, ")
        attribute = "_insert_linked"
    before = (session.scalar(select(func.count()).select_from(AuditEntry)),
              session.scalar(select(func.count()).select_from(CheckDecision)))
    session.rollback()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(writer, attribute, broken)
        # When a batch large enough for PostgreSQL's COPY write is asked
        r = ask(client, key, {"questions": [question()] * audit.PG_COPY_MIN_ROWS},
                CHECK + "/batch")
    # Then it answers 503 deny, and neither an entry nor a decision was kept
    assert _problem(r, 503)["decision"] == "deny"
    after = (session.scalar(select(func.count()).select_from(AuditEntry)),
             session.scalar(select(func.count()).select_from(CheckDecision)))
    assert after == before
    assert audit.verify(session).ok
    # And the next batch is written and answered as usual
    session.rollback()
    r = ask(client, key, {"questions": [question()] * audit.PG_COPY_MIN_ROWS}, CHECK + "/batch")
    assert r.status_code == 200 and r.get_json()["results"][0]["decision"] == "permit"


def test_each_reference_and_id_answers_from_each_notices_latest_event(
        client: FlaskClient, key: str, session: Session, demo: Any) -> None:
    # Given a person the police hold under two references, who withdrew, gave again and
    # withdrew again on the notice asked about (the read sends each notice's latest event
    # only, grouped per reference on SQLite)
    police = operations.agency_by_slug(session, "fenshire-police")
    sid = uuid.UUID(next(s for r, s, _ in demo.subjects if r == "FP-DEMO-0001"))
    operations.put_holding(session, police.id, "FP-DEMO-0001-B", categories=["identity"],
                           since=__import__("datetime").date(2026, 1, 1), actor=STAFF,
                           subject_id=sid)
    notice = session.scalar(select(Notice).where(Notice.slug == "victim-support-referral"))
    assert notice is not None
    version = consent_ops.latest_events(session, sid)[notice.id].notice_version_id
    consent_ops.withdraw(session, sid, notice.id, actor=STAFF, method="phone")
    consent_ops.give(session, sid, version, actor=STAFF, method="phone")
    session.commit()
    questions = [question("FP-DEMO-0001"), question("FP-DEMO-0001-B"),
                 question(subject={"subject_id": str(sid)})]
    # When asked by both references and by id, in a batch
    answers = ask(client, key, {"questions": questions * 2}, CHECK + "/batch").get_json()
    # Then every answer permits on the latest event, which is the same for all three
    assert [a["decision"] for a in answers["results"]] == ["permit"] * 6
    events = {a["categories"]["contact-details"]["consent_id"] for a in answers["results"]}
    latest = consent_ops.latest_events(session, sid)[notice.id]
    assert events == {str(latest.public_id)}
    # And after a last withdrawal every one of them is denied as withdrawn
    consent_ops.withdraw(session, sid, notice.id, actor=STAFF, method="phone")
    session.commit()
    answers = ask(client, key, {"questions": questions * 2}, CHECK + "/batch").get_json()
    assert [a["reason"] for a in answers["results"]] == ["withdrawn"] * 6
    assert [ask(client, key, q).get_json()["reason"] for q in questions] == ["withdrawn"] * 3


def test_batch_limits(client: FlaskClient, key: str) -> None:
    r = ask(client, key, {"questions": [question()] * 1001}, CHECK + "/batch")
    assert r.status_code == 422 and r.get_json()["field"] == "questions"
    r = ask(client, key, {"questions": []}, CHECK + "/batch")
    assert r.status_code == 422
    r = ask(client, key, {"questions": [question(), question(purpose="nope")]}, CHECK + "/batch")
    assert r.status_code == 422 and r.get_json()["field"] == "questions[1].purpose"
    assert ask(client, key, {"questions": [question()] * 1000},
               CHECK + "/batch").status_code == 200


# --- errors as RFC 9457 problems -------------------------------------------------------------

def _problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    body: dict[str, Any] = json.loads(r.get_data())
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    assert body["decision"] == "deny"
    return body


def test_malformed_json_is_400(client: FlaskClient, key: str) -> None:
    r = client.post(CHECK, data=b'{"subject": ', headers={**bearer(key),
                                                          "Content-Type": "application/json"})
    _problem(r, 400)


def test_wrong_content_type_is_415(client: FlaskClient, key: str) -> None:
    r = client.post(CHECK, data=json.dumps(question()),
                    headers={**bearer(key), "Content-Type": "text/plain"})
    _problem(r, 415)


def test_body_over_one_mebibyte_is_413(client: FlaskClient, key: str) -> None:
    big = json.dumps({**question(), "pad": "x" * (1024 * 1024)})
    r = client.post(CHECK, data=big, headers={**bearer(key), "Content-Type": "application/json"})
    _problem(r, 413)


@pytest.mark.parametrize(("change", "field"), [
    ({"recipient": "no-such-agency"}, "recipient"),
    ({"purpose": "no-such-purpose"}, "purpose"),
    ({"categories": ["contact-details", "no-such-category"]}, "categories[1]"),
    ({"categories": []}, "categories"),
    ({"categories": "contact-details"}, "categories"),
    ({"recipient": "Not A Slug"}, "recipient"),
    ({"subject": {"agency_ref": ""}}, "subject.agency_ref"),
    ({"subject": {"subject_id": "not-a-uuid"}}, "subject.subject_id"),
    ({"subject": {"agency_ref": "a", "subject_id": str(uuid.uuid4())}}, "subject"),
    ({"subject": "FP-DEMO-0001"}, "subject"),
])
def test_invalid_fields_are_422_naming_the_field(client: FlaskClient, key: str,
                                                 change: dict[str, Any], field: str) -> None:
    body = _problem(ask(client, key, question(**change)), 422)
    assert body["field"] == field


def test_missing_field_is_422(client: FlaskClient, key: str) -> None:
    body = question()
    del body["purpose"]
    assert _problem(ask(client, key, body), 422)["field"] == "purpose"


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Bearer cpk_wrong",
                                    "Bearer not-even-our-format"])
def test_missing_or_bad_key_is_401(client: FlaskClient, demo: Any, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    r = client.post(CHECK, json=question(), headers=headers)
    _problem(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_missing_scope_is_403(client: FlaskClient, api_key: Callable[..., str]) -> None:
    holdings_only = api_key("fenshire-police", "holdings:write")
    _problem(ask(client, holdings_only, question()), 403)


def test_revoked_and_expired_keys_are_401(client: FlaskClient, session: Session,
                                          api_key: Callable[..., str]) -> None:
    import datetime as dt

    from portal.database import utcnow
    from portal.reference.models import ApiClient

    key = api_key("fenshire-police", "consent:check")
    assert ask(client, key, question()).status_code == 200
    client_row = session.scalar(select(ApiClient).where(
        ApiClient.key_hash == apikeys.hash_key(key)))
    assert client_row is not None
    apikeys.revoke_api_key(session, client_row.id, actor=STAFF)
    session.commit()
    _problem(ask(client, key, question()), 401)
    soon = api_key("fenshire-police", "consent:check",
                   expires_at=utcnow() + dt.timedelta(seconds=30))
    assert ask(client, soon, question()).status_code == 200
    row = session.scalar(select(ApiClient).where(ApiClient.key_hash == apikeys.hash_key(soon)))
    assert row is not None
    row.expires_at = utcnow() - dt.timedelta(seconds=1)
    session.commit()
    _problem(ask(client, soon, question()), 401)


def test_keys_are_stored_only_as_hashes(session: Session, api_key: Callable[..., str]) -> None:
    from portal.reference.models import ApiClient

    key = api_key("fenshire-police", "consent:check")
    for row in session.scalars(select(ApiClient)):
        assert key not in (row.key_hash, row.key_prefix, row.name, row.scopes)
    assert session.scalar(select(ApiClient).where(ApiClient.key_hash == apikeys.hash_key(key)))


def test_api_sets_and_reads_no_cookies(client: FlaskClient, key: str) -> None:
    client.set_cookie("session", "garbage-that-must-be-ignored")
    r = ask(client, key, question())
    assert r.status_code == 200
    assert "Set-Cookie" not in r.headers
    assert r.headers["Cache-Control"] == "no-store"


# --- fail closed and no answer without a record -----------------------------------------------

def test_database_error_answers_503_deny(app: Flask, client: FlaskClient, key: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Invariant 2: an error while deciding is a deny, never a permit."""

    def broken(*_a: Any, **_k: Any) -> Any:
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    def broken_driver(*_a: Any, **_k: Any) -> Any:
        # The person's facts are read through the driver itself, below SQLAlchemy.
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(check_read._Reader, "read", broken_driver)
    body = _problem(ask(client, key, question()), 503)
    assert body["decision"] == "deny"
    _problem(ask(client, key, {"questions": [question()]}, CHECK + "/batch"), 503)
    monkeypatch.undo()
    # The reference data is reloaded when it changed; a failure there is a deny too.
    monkeypatch.setattr(check_service, "load_refdata", broken)
    monkeypatch.setattr(app.extensions["consent.checks"], "_refdata", None)
    body = _problem(ask(client, key, {"questions": [question()]}, CHECK + "/batch"), 503)
    assert body["decision"] == "deny"


def test_unreachable_database_answers_503_deny(key: str, db_url: str, tmp_path: Any) -> None:
    """Invariant 2 with no database at all: the answer is still a deny."""
    from portal.app import create_app
    from tests.conftest import make_config

    url = ("postgresql+psycopg://postgres@127.0.0.1:1/none" if db_url.startswith("postgres")
           else f"sqlite:///{tmp_path}/missing-dir/none.sqlite3")
    app = create_app(make_config(url, tmp_path / "i2", check_timeout_ms=500))
    r = app.test_client().post(CHECK, json=question(), headers=bearer(key))
    _problem(r, 503)


def test_commit_failure_means_no_answer(app: Flask, client: FlaskClient, key: str,
                                        session: Session, monkeypatch: pytest.MonkeyPatch,
                                        db_url: str) -> None:
    """Invariant 3: if the decision's record cannot be committed, the answer is 503 deny."""
    before = session.scalar(select(func.count()).select_from(CheckDecision))

    def failing_commit(_self: Any, _conn: Any) -> None:
        # Every statement has run; only the COMMIT fails, as a full disk would make it.
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(check_write._Writer, "_commit", failing_commit)
    if db_url.startswith("postgresql"):
        # There a check's whole write is one autocommit statement: let it fail at its last
        # step, once the audit entry has been inserted.
        writer = app.extensions["consent.checks"].committer._writer.appender
        monkeypatch.setattr(writer, "_append_one", {
            touch: sql.removesuffix("FROM a") + "FROM a WHERE 1 / (a.id - a.id) = 0"
            for touch, sql in writer._append_one.items()})
    entries = session.scalar(select(func.count()).select_from(AuditEntry))
    body = _problem(ask(client, key, question()), 503)
    assert body["decision"] == "deny"
    monkeypatch.undo()
    session.rollback()
    assert session.scalar(select(func.count()).select_from(CheckDecision)) == before
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == entries
    # The writer's connection went back to the pool as it came: no transaction, no autocommit.
    from portal.database import get_database

    engine = get_database(app).engine
    pooled = [engine.raw_connection() for _ in range(engine.pool.checkedin())]  # type: ignore[attr-defined]
    try:
        assert pooled
        for connection in pooled:
            driver: Any = connection.driver_connection
            if db_url.startswith("postgresql"):
                assert driver.autocommit is False
                assert driver.pgconn.transaction_status == 0  # idle
            else:
                assert not driver.in_transaction
    finally:
        for connection in pooled:
            connection.close()


def test_every_answer_is_already_committed_when_received(app: Flask, client: FlaskClient,
                                                         key: str) -> None:
    """Invariant 3: a fresh connection sees the decision as soon as the response arrives."""
    from portal.database import get_database

    for ref in ("FP-DEMO-0001", "FP-DEMO-0002", "UNKNOWN"):
        decision_id = ask(client, key, question(ref)).get_json()["decision_id"]
        with get_database(app).sessionmaker() as fresh:
            row = fresh.get(CheckDecision, uuid.UUID(decision_id))
            assert row is not None
            assert fresh.get(AuditEntry, row.audit_id) is not None


def test_holding_reference_lookup_is_per_agency(session: Session, client: FlaskClient,
                                                api_key: Callable[..., str]) -> None:
    # The council cannot reach the police's FP-DEMO-0001 by reusing its reference.
    council_key = api_key("fenshire-city-council", "consent:check")
    body = ask(client, council_key, question(recipient="fen-housing",
                                             purpose="asb-case-management",
                                             categories=["identity"])).get_json()
    assert body["decision"] == "permit"  # statutory: no consent consulted, no subject needed
    held = session.scalars(select(Holding).where(Holding.agency_ref == "FP-DEMO-0001")).all()
    assert len(held) == 1


def test_sqlite_log_checkpoint_runs_after_the_answer_is_sent(
        app: Flask, client: FlaskClient, key: str, backend: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a checkpoint is due, when a check is answered, then SQLite's write-ahead log is
    copied into the database once the response is closed, not before; PostgreSQL has none."""
    service = app.extensions["consent.checks"]
    seen: list[tuple[int, int, int] | None] = []
    real = service.checkpoint
    monkeypatch.setattr(service, "checkpoint", lambda: seen.append(real()))
    monkeypatch.setattr(check_service, "CHECKPOINT_INTERVAL", 0.0)

    response = client.post(CHECK, json=question(), headers=bearer(key))
    assert response.status_code == 200
    assert seen == []  # the answer is complete before any housekeeping
    response.close()

    if backend == "sqlite":
        [(busy, pages, copied)] = seen
        assert busy == 0 and pages > 0 and copied == pages
    else:
        assert seen == []


def test_a_failed_checkpoint_is_only_logged(app: Flask, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    service = app.extensions["consent.checks"]

    def unreachable() -> Any:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(service._engine, "raw_connection", unreachable)
    assert service.checkpoint() is None
    assert "checkpoint failed" in caplog.text


def test_a_basis_switched_around_the_admin_rules_still_denies_a_refusal(
        client: FlaskClient, key: str, session: Session) -> None:
    from consent.models import notice_version_agreements as nva
    from portal.database import utcnow
    from portal.reference.models import DataCategory, SharingAgreement

    # Given FEN-ISA-001 (consent) superseded, as data written before the admin rules or
    # around them could be, by a legitimate-interests version 2 that also adds case notes,
    # and a consent version 3 after it; the notice covers every version
    v1 = session.scalar(select(SharingAgreement).where(
        SharingAgreement.reference == "FEN-ISA-001"))
    assert v1 is not None
    notice_versions = list(session.scalars(select(nva.c.notice_version_id).where(
        nva.c.agreement_id == v1.id)))
    case_notes = session.scalar(select(DataCategory).where(DataCategory.slug == "case-notes"))
    now = utcnow()
    v1.retired_at = now
    v2 = SharingAgreement(reference=v1.reference, title=v1.title, from_agency=v1.from_agency,
                          to_agency=v1.to_agency, purpose=v1.purpose,
                          lawful_basis="legitimate-interests", valid_from=v1.valid_from,
                          version=2, supersedes_id=v1.id, retired_at=now,
                          categories=[*v1.categories, case_notes], created_at=now)
    session.add(v2)
    session.flush()
    v3 = SharingAgreement(reference=v1.reference, title=v1.title, from_agency=v1.from_agency,
                          to_agency=v1.to_agency, purpose=v1.purpose, lawful_basis="consent",
                          valid_from=v1.valid_from, version=3, supersedes_id=v2.id,
                          categories=list(v2.categories), created_at=now)
    for row in (v2, v3):
        session.add(row)
        session.flush()
        session.execute(nva.insert(), [{"notice_version_id": n, "agreement_id": row.id}
                                       for n in notice_versions])
    session.commit()
    # When the refused, the withdrawn and the consenting are asked about
    refused = ask(client, key, question("FP-DEMO-0006")).get_json()
    withdrawn = ask(client, key, question("FP-DEMO-0002")).get_json()
    wider = ask(client, key, question("FP-DEMO-0001",
                                      categories=["contact-details", "case-notes"])).get_json()
    # Then the refusal and the withdrawal still deny, and the consent to version 1 permits
    # nothing version 1 did not list
    assert refused["decision"] == "deny" and refused["reason"] == "refused"
    assert withdrawn["decision"] == "deny" and withdrawn["reason"] == "withdrawn"
    assert wider["categories"]["contact-details"]["decision"] == "permit"
    assert wider["categories"]["case-notes"] == {"decision": "deny", "reason": "no_consent"}
