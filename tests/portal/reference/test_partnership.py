"""Partnership admins add agencies, data categories and purposes; bad input saves nothing."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit import AuditEntry
from portal.identity.models import Role
from portal.reference.models import Agency, DataCategory, Purpose
from tests.identity_helpers import login, make_staff
from tests.staff_helpers import csrf

GOOD = {
    "agencies": {"slug": "fen-fire", "name": "Fenshire Fire and Rescue", "kind": "other",
                 "sar_contact": "dpo@fenfire.example"},
    "categories": {"slug": "biometrics", "name": "Biometric data", "special_category": "yes"},
    "purposes": {"slug": "fire-safety", "name": "Home fire safety visits"},
}
MODELS = {"agencies": Agency, "categories": DataCategory, "purposes": Purpose}


def _count(session: Session, kind: str) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(MODELS[kind])) or 0)


@pytest.mark.parametrize("kind", list(GOOD))
def test_add_and_refuse_bad_input(client: FlaskClient, session: Session, demo: Any,
                                  kind: str) -> None:
    login(client, make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN))
    url = f"/staff/partnership/{kind}"
    before = _count(session, kind)
    existing = {"agencies": "fen-housing", "categories": "health",
                "purposes": "safeguarding"}[kind]
    bad = [
        ({"slug": ""}, "slug"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"slug": "x" * 65}, "slug"),
        ({"slug": existing}, "slug"),
        ({"name": ""}, "name"),
        ({"name": "<b>bold</b>"}, "name"),
        ({"name": "x" * 201}, "name"),
    ]
    if kind == "agencies":
        bad.append(({"kind": "spaceship"}, "kind"))
    for change, field in bad:
        r = client.post(url, data={"csrf_token": csrf(client, url), **GOOD[kind], **change})
        assert r.status_code == 400, change
        page = r.get_data(as_text=True)
        assert f'href="#{field}"' in page, change
        if kind == "categories":  # what was ticked is still ticked: nothing typed is lost
            assert 'name="special_category" type="checkbox" value="yes" checked' in page, change
    assert _count(session, kind) == before
    r = client.post(url, data={"csrf_token": csrf(client, url), **GOOD[kind]})
    assert r.status_code == 302
    assert _count(session, kind) == before + 1
    assert session.scalar(select(AuditEntry.action).where(
        AuditEntry.action == f"{kind}.create")) == f"{kind}.create"
    if kind == "categories":
        row = session.scalar(select(DataCategory).where(DataCategory.slug == "biometrics"))
        assert row is not None and row.special_category and not row.criminal_offence


EDITS = {
    "agencies": ("fen-housing", {"name": "Fen Homes", "kind": "housing",
                                 "sar_contact": "dpo@fenhomes.example"}),
    "categories": ("images", {"name": "Images, CCTV and body-worn video", "description": "",
                              "criminal_offence": "yes"}),
    "purposes": ("restorative-justice", {"name": "Restorative justice and mediation",
                                         "description": "Meetings that put things right"}),
}


def _row(session: Session, kind: str, slug: str) -> Any:
    session.rollback()
    model = MODELS[kind]
    return session.scalar(select(model).where(model.slug == slug))


def _post(client: FlaskClient, url: str, data: dict[str, Any]) -> Any:
    return client.post(url, data={"csrf_token": csrf(client, "/staff/"), **data})


@pytest.mark.parametrize("kind", list(EDITS))
def test_edit_changes_fields_not_the_slug_and_refuses_bad_input(
        client: FlaskClient, session: Session, demo: Any, kind: str) -> None:
    login(client, make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN))
    slug, good = EDITS[kind]
    row = _row(session, kind, slug)
    url = f"/staff/partnership/{kind}/{row.id}"
    assert slug in client.get(url).get_data(as_text=True)
    original = row.name
    # Bad input: a clear error for the field, nothing saved
    bad: list[tuple[dict[str, Any], str]] = [
        ({"name": ""}, "name"), ({"name": "<b>bold</b>"}, "name"), ({"name": "x" * 201}, "name")]
    if kind == "agencies":
        bad += [({"kind": "spaceship"}, "kind"), ({"sar_contact": "x" * 301}, "sar_contact")]
    else:
        bad += [({"description": "<img src=x>"}, "description"),
                ({"description": "x" * 2001}, "description")]
    for change, field in bad:
        r = _post(client, url, {**good, **change})
        assert r.status_code == 400, change
        assert f'href="#{field}"' in r.get_data(as_text=True), change
    assert _row(session, kind, slug).name == original
    # A good change saves, keeps the slug even if one is sent, and is audited before/after
    r = _post(client, url, {**good, "slug": "renamed"})
    assert r.status_code == 302 and f"changed={slug}" in r.headers["Location"]
    row = _row(session, kind, slug)
    assert row is not None and row.name == good["name"]
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == f"{kind}.update"))
    assert entry is not None and entry.object_id == str(row.id)
    assert f'"name":{{"after":"{good["name"]}","before":"{original}"}}' in entry.details
    if kind == "agencies":
        # A contact may name a person: the audit says it changed, not what it was
        assert '"sar_contact":"changed"' in entry.details and "fenhomes" not in entry.details
    if kind == "categories":
        assert row.criminal_offence and not row.special_category


def test_a_category_in_use_cannot_become_special_without_art9_conditions(
        client: FlaskClient, session: Session, demo: Any) -> None:
    login(client, make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN))
    row = _row(session, "categories", "case-notes")
    r = _post(client, f"/staff/partnership/categories/{row.id}",
              {"name": row.name, "special_category": "yes"})
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert 'href="#special_category"' in page and "FEN-ISA-002" in page
    assert not _row(session, "categories", "case-notes").special_category


@pytest.mark.parametrize(("kind", "slug", "reference"), [
    ("categories", "housing-tenancy", "FEN-ISA-005"),
    ("purposes", "restorative-justice", "FEN-ISA-002"),
])
def test_retire_is_refused_while_a_current_agreement_uses_it(
        client: FlaskClient, session: Session, demo: Any, kind: str, slug: str,
        reference: str) -> None:
    login(client, make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN))
    row = _row(session, kind, slug)
    r = _post(client, f"/staff/partnership/{kind}/{row.id}/retire", {})
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert 'href="#retire"' in page and reference in page
    assert _row(session, kind, slug).retired_at is None


@pytest.mark.parametrize("kind", ["categories", "purposes"])
def test_retired_items_leave_the_choices_but_stay_in_history(
        client: FlaskClient, session: Session, demo: Any, kind: str) -> None:
    from portal.reference import operations as staff_ops

    login(client, make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN))
    url = f"/staff/partnership/{kind}"
    _post(client, url, GOOD[kind])
    row = _row(session, kind, GOOD[kind]["slug"])
    r = _post(client, f"{url}/{row.id}/retire", {})
    assert r.status_code == 302 and "retired=" in r.headers["Location"]
    row = _row(session, kind, GOOD[kind]["slug"])
    assert row is not None and row.retired_at is not None
    assert session.scalar(select(AuditEntry.object_id).where(
        AuditEntry.action == f"{kind}.retire")) == str(row.id)
    # Kept and marked in the list, gone from the choices for new work
    assert "Retired" in client.get(url).get_data(as_text=True)
    form = client.get("/staff/partnership/agreements/new").get_data(as_text=True)
    assert GOOD[kind]["name"] not in form
    if kind == "categories":
        assert row.id not in {c.id for c in staff_ops.all_categories(session)}
    # A retired item cannot be changed or retired again
    assert _post(client, f"{url}/{row.id}", {"name": "Again"}).status_code == 400
    assert _post(client, f"{url}/{row.id}/retire", {}).status_code == 400


def test_retiring_an_agency_revokes_its_live_keys(client: FlaskClient, session: Session,
                                                  demo: Any, api_key: Any) -> None:
    from portal.reference.models import ApiClient

    # Given an agency with a live key, and an admin of another agency
    key = api_key("fen-bid", "consent:check")
    login(client, make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN))
    agency = _row(session, "agencies", "fen-bid")
    page = client.get(f"/staff/partnership/agencies/{agency.id}").get_data(as_text=True)
    assert "(1)" in page
    # When it is retired
    r = _post(client, f"/staff/partnership/agencies/{agency.id}/retire", {})
    assert r.status_code == 302
    # Then it is inactive, its key is revoked in the same operation, and both are audited
    agency = _row(session, "agencies", "fen-bid")
    assert not agency.active
    client_row = session.scalar(select(ApiClient).where(ApiClient.agency_id == agency.id))
    assert client_row is not None and client_row.revoked_at is not None
    actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id.desc())
                                   .limit(2)))
    assert actions == ["agencies.retire", "api_key.revoke"]
    assert client.post("/api/v1/consent/check", headers={"Authorization": f"Bearer {key}"},
                       json={}).status_code == 401
    # And its agency admin cannot mint a new key
    agency_admin = make_staff(session, "fen-bid", Role.AGENCY_ADMIN)
    login(client, agency_admin)
    r = _post(client, "/staff/admin/api-keys", {"name": "New key", "scopes": "consent:check"})
    assert r.status_code == 400 and 'href="#name"' in r.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(ApiClient).where(
        ApiClient.agency_id == agency.id)) == 1
    login(client, make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN))
    # And it is no longer offered for new agreements
    assert "Fen City Business Crime" not in client.get(
        "/staff/partnership/agreements/new").get_data(as_text=True)


def test_an_admin_cannot_retire_their_own_agency(client: FlaskClient, session: Session,
                                                 demo: Any) -> None:
    login(client, make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN))
    agency = _row(session, "agencies", "fenshire-police")
    r = _post(client, f"/staff/partnership/agencies/{agency.id}/retire", {})
    assert r.status_code == 400 and 'href="#retire"' in r.get_data(as_text=True)
    assert _row(session, "agencies", "fenshire-police").active
    assert client.get("/staff/partnership/purposes/999999").status_code == 404


def test_an_agency_sharing_on_legitimate_interests_cannot_become_a_public_authority(
        client: FlaskClient, session: Session, demo: Any) -> None:
    import datetime as dt

    from consent import agreements
    from tests.conftest import STAFF

    # Given the business crime partnership sharing with the police on legitimate interests
    bid, police = _row(session, "agencies", "fen-bid"), _row(session, "agencies",
                                                            "fenshire-police")
    purpose = _row(session, "purposes", "business-crime-exclusion")
    images = _row(session, "categories", "images")
    agreements.create_agreement(session, "FEN-ISA-130", agreements.AgreementValues(
        title="Exclusion notices to the police", from_agency_id=bid.id,
        to_agency_id=police.id, purpose_id=purpose.id, lawful_basis="legitimate-interests",
        valid_from=dt.datetime(2026, 2, 1, tzinfo=dt.UTC), category_ids=(images.id,)),
        actor=STAFF)
    session.commit()
    login(client, make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN))
    # When a partnership admin makes it a council (a public authority)
    r = _post(client, f"/staff/partnership/agencies/{bid.id}",
              {"name": bid.name, "kind": "council", "sar_contact": bid.sar_contact})
    # Then it is refused, naming the agreement, and the kind stays as it was
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert 'href="#kind"' in page and "FEN-ISA-130" in page
    assert _row(session, "agencies", "fen-bid").kind == "business-crime"
