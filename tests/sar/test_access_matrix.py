"""Every /staff/sar route, tried by every role, on its own agency's object and another's,
and by the anonymous (DESIGN §12: a partnership coordinator runs the request; each agency's
reviewers see only their own agency's records; another agency's object is not found)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfWriter
from sqlalchemy.orm import Session

from portal.identity.models import Role
from sar import operations as ops
from sar.models import SarBundle, SarRequest, SarTask
from tests.identity_helpers import login, make_staff
from tests.sar.conftest import PNG, STAFF

# Which roles may use each endpoint, and whether the object is an agency's own (a task or a
# record: another agency's is not found even for a reviewer) or the partnership's.
SAR_ROUTES: dict[str, tuple[set[str], bool]] = {
    "sar_staff.queue": ({Role.SAR_COORDINATOR, Role.SAR_OFFICER}, False),
    "sar_staff.new_request": ({Role.SAR_COORDINATOR}, False),
    "sar_staff.detail": ({Role.SAR_COORDINATOR}, False),
    "sar_staff.document": ({Role.SAR_COORDINATOR}, False),
    "sar_staff.verify": ({Role.SAR_COORDINATOR}, False),
    "sar_staff.pause": ({Role.SAR_COORDINATOR}, False),
    "sar_staff.resume": ({Role.SAR_COORDINATOR}, False),
    "sar_staff.message": ({Role.SAR_COORDINATOR}, False),
    "sar_staff.extend": ({Role.SAR_COORDINATOR}, False),
    "sar_staff.refuse": ({Role.SAR_COORDINATOR}, False),
    "sar_staff.assign": ({Role.SAR_COORDINATOR}, False),
    "sar_staff.letter": ({Role.SAR_COORDINATOR}, False),
    "sar_staff.search": ({Role.SAR_COORDINATOR}, False),
    "sar_staff.task_search": ({Role.SAR_OFFICER}, True),
    "sar_staff.ncnd": ({Role.SAR_COORDINATOR}, False),
    "sar_staff.safeguarding": ({Role.SAR_COORDINATOR}, False),
    "sar_staff.build_bundle": ({Role.SAR_COORDINATOR}, False),
    "sar_staff.approve": ({Role.SAR_COORDINATOR}, False),
    "sar_staff.preview": ({Role.SAR_COORDINATOR}, False),
    "sar_staff.task": ({Role.SAR_OFFICER}, True),
    "sar_staff.record": ({Role.SAR_OFFICER}, True),
    "sar_staff.redact": ({Role.SAR_OFFICER}, True),
    "sar_staff.undo": ({Role.SAR_OFFICER}, True),
    "sar_staff.upload_records": ({Role.SAR_OFFICER}, True),
    "sar_staff.task_ncnd": ({Role.SAR_OFFICER}, True),
    "sar_staff.record_ncnd": ({Role.SAR_OFFICER}, True),
    "sar_files.show": ({Role.SAR_OFFICER}, True),
    "sar_files.page_image": ({Role.SAR_OFFICER}, True),
    "sar_files.region": ({Role.SAR_OFFICER}, True),
    "sar_files.text": ({Role.SAR_OFFICER}, True),
    "sar_files.decision": ({Role.SAR_OFFICER}, True),
    # Counts only: the partnership's for its coordinators and admins, an agency's own for
    # its SAR officers (tests/sar/test_reporting.py)
    "sar_report.page": ({Role.SAR_COORDINATOR, Role.PARTNERSHIP_ADMIN, Role.SAR_OFFICER},
                        False),
    "sar_report.csv_file": ({Role.SAR_COORDINATOR, Role.PARTNERSHIP_ADMIN, Role.SAR_OFFICER},
                            False),
}


def _pdf() -> bytes:
    out = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=100, height=100)
    writer.write(out)
    return out.getvalue()


@pytest.fixture
def world(session: Session, filed: Callable[..., SarRequest]) -> dict[str, Any]:
    """A request about Morgan with a police and an IDVA task (each with a record), an ID
    document, a built bundle, and a second request waiting for ID with its own document."""
    sar = filed()
    police, idva = sorted(sar.tasks, key=lambda t: t.agency.slug != "fenshire-police")
    for task, name in ((police, "Police"), (idva, "IDVA")):
        ops.supply_records(session, task, [ops.NewRecord(
            f"{name}-1", "note", f"{name} record", f"{name} text",
            files=[("scan.png", "image/png", PNG)])], actor=STAFF)
    # Built as the worker would (its files unreviewed: no route here depends on that)
    bundle = SarBundle(request_id=sar.id, requested_by_id=1, state="built", pdf=_pdf())
    session.add(bundle)
    other = filed(verified=False)
    session.commit()
    return {"sar": sar, "police": police, "idva": idva, "bundle": bundle,
            "document": ops.documents(session, sar)[0],
            "other_document": ops.documents(session, other)[0]}


def _url(rule: str, world: dict[str, Any], own: bool) -> str:
    police: SarTask = world["police" if own else "idva"]
    bundle: SarBundle = world["bundle"]
    document = world["document" if own else "other_document"]
    return (rule.replace("<reference>", world["sar"].reference)
            .replace("<int:document_id>", str(document.id))
            .replace("<uuid:task_id>", str(police.id))
            .replace("<int:record_id>", str(police.records[0].id))
            .replace("<int:file_id>", str(police.records[0].files[0].id))
            .replace("<int:page>", "1")
            .replace("<int:notice_id>", "1")
            .replace("<uuid:bundle_id>", str(bundle.id)))


def _routes(app: Flask) -> list[tuple[str, str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/staff/sar"):
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                out.append((rule.endpoint, method, rule.rule))
    return out


def test_every_sar_route_is_in_the_matrix(app: Flask) -> None:
    assert {e for e, _m, _r in _routes(app)} == set(SAR_ROUTES)


def test_the_anonymous_are_sent_to_sign_in(app: Flask, client: FlaskClient,
                                          world: dict[str, Any]) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    for endpoint, method, rule in _routes(app):
        for own in (True, False):
            r = client.open(_url(rule, world, own), method=method)
            assert r.status_code == 302, (endpoint, method, own, r.status_code)
            assert "/staff/sign-in" in r.headers["Location"], endpoint


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_each_role_on_its_own_agencys_objects_and_anothers(
        app: Flask, client: FlaskClient, session: Session, world: dict[str, Any],
        role: str) -> None:
    # Given a police staff member holding one role
    staff = make_staff(session, "fenshire-police", role)
    app.config["WTF_CSRF_ENABLED"] = False
    for endpoint, method, rule in _routes(app):
        allowed, scoped = SAR_ROUTES[endpoint]
        for own in (True, False):
            login(client, staff)
            url = _url(rule, world, own)
            r = client.open(url, method=method)
            where = (role, endpoint, method, "own" if own else "another's", r.status_code)
            if role not in allowed:
                # Then a route their role does not name is forbidden
                assert r.status_code == 403, where
            elif (scoped or "document_id" in rule) and not own:
                # And another agency's task or record (another request's document) is not
                # found, exactly as no object at all
                assert r.status_code == 404, where
            else:
                # And their own agency's object (the partnership's, for a coordinator) opens
                assert r.status_code in (200, 302, 400), where


def test_a_victim_care_reviewer_sees_nothing_of_a_police_request(
        app: Flask, client: FlaskClient, session: Session, world: dict[str, Any],
        reviewers: dict[str, Any]) -> None:
    # Given a SAR officer of Victim Care, which holds nothing on Morgan
    login(client, reviewers["victim-care"])
    sar, police = world["sar"], world["police"]
    # Then the queue lists no request, and no police record, task or bundle opens
    page = client.get("/staff/sar/").get_data(as_text=True)
    assert sar.reference not in page and "Police text" not in page
    assert client.get(f"/staff/sar/{sar.reference}").status_code == 403
    assert client.get(f"/staff/sar/bundles/{world['bundle'].id}.pdf").status_code == 403
    assert client.get(f"/staff/sar/tasks/{police.id}").status_code == 404
    app.config["WTF_CSRF_ENABLED"] = False
    assert client.post(f"/staff/sar/records/{police.records[0].id}/redact",
                       data={"text": "Police", "reason": "s45-4-e"}).status_code == 404
    assert client.post(f"/staff/sar/tasks/{police.id}/upload",
                       data={"nothing": "yes"}).status_code == 404
    session.rollback()
    assert police.records[0].redactions == []


def test_a_police_reviewer_sees_only_the_polices_part(
        client: FlaskClient, session: Session, world: dict[str, Any],
        reviewers: dict[str, Any]) -> None:
    login(client, reviewers["fenshire-police"])
    page = client.get("/staff/sar/").get_data(as_text=True)
    assert world["sar"].reference in page
    task_page = client.get(f"/staff/sar/tasks/{world['police'].id}").get_data(as_text=True)
    assert "Police text" in task_page and "IDVA text" not in task_page
    # The requester's details and documents stay with the coordinators
    assert "morgan.lee@example.org" not in task_page and "/documents/" not in task_page
    assert client.get(f"/staff/sar/tasks/{world['idva'].id}").status_code == 404


def test_a_document_of_another_request_is_not_found(
        client: FlaskClient, session: Session, world: dict[str, Any],
        officers: tuple[Any, Any]) -> None:
    login(client, officers[0])
    reference = world["sar"].reference
    assert client.get(f"/staff/sar/{reference}/documents/{world['document'].id}").data == PNG
    assert client.get(f"/staff/sar/{reference}/documents/"
                      f"{world['other_document'].id}").status_code == 404
    assert client.get(f"/staff/sar/bundles/{uuid.uuid4()}.pdf").status_code == 404
