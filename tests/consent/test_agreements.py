"""Partnership admins create, change and retire sharing agreements; one in use is versioned,
and the consents people gave keep permitting exactly what they permitted before."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent import agreements as ops
from consent.models import notice_version_agreements
from portal.audit import AuditEntry
from portal.database import utcnow
from portal.errors import Conflict
from portal.identity.models import Role
from portal.reference import operations
from portal.reference.models import (
    Agency,
    DataCategory,
    Purpose,
    SharingAgreement,
    agreement_categories,
)
from tests.conftest import STAFF, bearer
from tests.identity_helpers import login, make_staff
from tests.staff_helpers import csrf

NEW = "/staff/partnership/agreements/new"


def _id(session: Session, model: Any, slug: str) -> str:
    return str(session.scalar(select(model.id).where(model.slug == slug)))


def _agreement(session: Session, reference: str, version: int = 1) -> SharingAgreement:
    session.rollback()
    found = session.scalar(select(SharingAgreement).where(
        SharingAgreement.reference == reference, SharingAgreement.version == version))
    assert found is not None
    return found


def _good(session: Session, **change: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "reference": "FEN-ISA-100", "title": "Police to Victim Care: follow-up calls",
        "from_agency": _id(session, Agency, "fenshire-police"),
        "to_agency": _id(session, Agency, "victim-care"),
        "purpose": _id(session, Purpose, "victim-support-referral"),
        "categories": [_id(session, DataCategory, "contact-details")],
        "lawful_basis": "consent", "statutory_gateway": "", "art9_condition": "",
        "valid_from": "2026-02-01", "valid_to": "",
    }
    form.update(change)
    return form


def _counts(session: Session) -> tuple[int, int, int]:
    session.rollback()
    return (int(session.scalar(select(func.count()).select_from(SharingAgreement)) or 0),
            int(session.scalar(select(func.count()).select_from(agreement_categories)) or 0),
            int(session.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action.like("agreement.%"))) or 0))


def _form_of(agreement: SharingAgreement, **change: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "title": agreement.title, "from_agency": str(agreement.from_agency_id),
        "to_agency": str(agreement.to_agency_id), "purpose": str(agreement.purpose_id),
        "categories": [str(c.id) for c in agreement.categories],
        "lawful_basis": agreement.lawful_basis,
        "statutory_gateway": agreement.statutory_gateway,
        "art9_condition": agreement.art9_condition,
        "valid_from": agreement.valid_from.date().isoformat(),
        "valid_to": agreement.valid_to.date().isoformat() if agreement.valid_to else "",
    }
    form.update(change)
    return form


@pytest.fixture
def admin(client: FlaskClient, session: Session, demo: Any) -> FlaskClient:
    login(client, make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN))
    return client


def _post(client: FlaskClient, url: str, data: dict[str, Any]) -> Any:
    return client.post(url, data={"csrf_token": csrf(client, "/staff/"), **data})


def test_create_view_and_list(admin: FlaskClient, session: Session) -> None:
    # Given the form for a new agreement
    assert admin.get(NEW).status_code == 200
    # When a partnership admin fills it in
    r = _post(admin, NEW, _good(session))
    # Then the agreement exists as version 1, is listed, and its creation is audited
    assert r.status_code == 302
    made = _agreement(session, "FEN-ISA-100")
    assert r.headers["Location"].endswith(f"/staff/partnership/agreements/{made.id}?done=created")
    assert made.valid_from == dt.datetime(2026, 2, 1, tzinfo=dt.UTC) and made.valid_to is None
    assert [c.slug for c in made.categories] == ["contact-details"]
    page = admin.get(f"/staff/partnership/agreements/{made.id}").get_data(as_text=True)
    assert "FEN-ISA-100" in page and "follow-up calls" in page
    assert "FEN-ISA-100" in admin.get("/staff/partnership/agreements").get_data(as_text=True)
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "agreement.create"))
    assert entry is not None and entry.object_id == str(made.id)
    assert '"reference":"FEN-ISA-100"' in entry.details


def test_create_refuses_bad_input_and_saves_nothing(admin: FlaskClient,
                                                    session: Session) -> None:
    # A retired category and a retired agency, to be refused as choices
    retired_cat = DataCategory(slug="old-notes", name="Old notes", retired_at=utcnow())
    retired_agency = Agency(slug="gone-agency", name="Gone", kind="other", active=False)
    session.add_all([retired_cat, retired_agency])
    session.commit()
    police = _id(session, Agency, "fenshire-police")
    health = _id(session, DataCategory, "health")
    bad: list[tuple[dict[str, Any], str]] = [
        ({"reference": ""}, "reference"),
        ({"reference": "not a ref"}, "reference"),
        ({"reference": "A" * 65}, "reference"),
        ({"reference": "FEN-ISA-001"}, "reference"),  # taken by the demo
        ({"title": ""}, "title"),
        ({"title": "<script>alert(1)</script>"}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"from_agency": ""}, "from_agency"),
        ({"from_agency": "999999"}, "from_agency"),
        ({"to_agency": police}, "to_agency"),
        ({"to_agency": str(retired_agency.id)}, "to_agency"),
        ({"purpose": "nope"}, "purpose"),
        ({"lawful_basis": ""}, "lawful_basis"),
        ({"lawful_basis": "because"}, "lawful_basis"),
        ({"lawful_basis": "public-task"}, "statutory_gateway"),
        ({"lawful_basis": "law-enforcement", "statutory_gateway": "   "}, "statutory_gateway"),
        ({"statutory_gateway": "x" * 301}, "statutory_gateway"),
        ({"categories": [health]}, "art9_condition"),
        ({"art9_condition": "{{ 7*7 }}"}, "art9_condition"),
        ({"categories": []}, "categories"),
        ({"categories": ["abc"]}, "categories"),
        ({"categories": [str(retired_cat.id)]}, "categories"),
        ({"valid_from": ""}, "valid_from"),
        ({"valid_from": "2026-02-30"}, "valid_from"),
        ({"valid_from": "1066-10-14"}, "valid_from"),
        ({"valid_to": "2026-01-31"}, "valid_to"),
        ({"valid_to": "2026-02-01"}, "valid_to"),
        ({"valid_to": "someday"}, "valid_to"),
    ]
    before = _counts(session)
    for change, field in bad:
        r = _post(admin, NEW, _good(session, **change))
        assert r.status_code == 400, change
        page = r.get_data(as_text=True)
        assert f'href="#{field}"' in page, (change, field)
        assert "<script>alert" not in page
    assert _counts(session) == before
    # The retired category and agency are not even offered
    page = admin.get(NEW).get_data(as_text=True)
    assert "Old notes" not in page and "Gone" not in page


def test_an_unused_agreement_is_corrected_in_place(admin: FlaskClient,
                                                   session: Session) -> None:
    # Given an agreement nobody relies on yet
    _post(admin, NEW, _good(session))
    made = _agreement(session, "FEN-ISA-100")
    url = f"/staff/partnership/agreements/{made.id}/edit"
    assert admin.get(url).status_code == 200
    # When its title and categories are changed
    incident = _id(session, DataCategory, "incident-report")
    r = _post(admin, url, _form_of(made, title="Police to Victim Care: calls",
                                   categories=[str(c.id) for c in made.categories] + [incident]))
    # Then the same row changed, still version 1, and the change is audited before/after
    assert r.status_code == 302 and r.headers["Location"].endswith("?done=saved")
    again = _agreement(session, "FEN-ISA-100")
    assert again.id == made.id and again.title == "Police to Victim Care: calls"
    assert {c.slug for c in again.categories} == {"contact-details", "incident-report"}
    assert session.scalar(select(func.count()).select_from(SharingAgreement).where(
        SharingAgreement.reference == "FEN-ISA-100")) == 1
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "agreement.update"))
    assert entry is not None
    assert '"title":{"after":"Police to Victim Care: calls","before":"Police to Victim Care: ' \
           'follow-up calls"}' in entry.details
    # And saving it unchanged makes no version and no audit entry
    r = _post(admin, url, _form_of(again))
    assert r.headers["Location"].endswith("?done=unchanged")
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action.in_(["agreement.update", "agreement.version"]))) == 1


def test_an_agreement_in_use_is_versioned(admin: FlaskClient, session: Session) -> None:
    # Given FEN-ISA-001, which a published notice covers
    old = _agreement(session, "FEN-ISA-001")
    old_id = old.id
    nva = notice_version_agreements
    covering = set(session.scalars(select(nva.c.notice_version_id)
                                   .where(nva.c.agreement_id == old_id)))
    assert covering
    # When its title and end date change
    r = _post(admin, f"/staff/partnership/agreements/{old_id}/edit",
              _form_of(old, title="Police to Victim Care (2027 wording)",
                       valid_to="2028-01-01"))
    assert r.status_code == 302 and r.headers["Location"].endswith("?done=versioned")
    # Then a version 2 supersedes it, the old one is retired, and nothing was rewritten
    new = _agreement(session, "FEN-ISA-001", 2)
    old = _agreement(session, "FEN-ISA-001", 1)
    assert new.supersedes_id == old_id and new.retired_at is None
    assert old.retired_at is not None and old.title != new.title
    assert {c.slug for c in new.categories} == {c.slug for c in old.categories}
    # And every notice version that covered the old id covers the new one too
    assert set(session.scalars(select(nva.c.notice_version_id)
                               .where(nva.c.agreement_id == new.id))) == covering
    # And people are shown the agreement once, as it now is
    from consent.models import NoticeVersion

    shown = session.get(NoticeVersion, min(covering))
    assert shown is not None and [a.id for a in shown.shown_agreements] == [new.id]
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "agreement.version"))
    assert entry is not None and entry.object_id == str(new.id)
    assert f'"supersedes":{old_id}' in entry.details and '"valid_to":{"after":' in entry.details
    # And the list shows only the current version; the history shows both
    listing = admin.get("/staff/partnership/agreements").get_data(as_text=True)
    assert f"/staff/partnership/agreements/{new.id}\"" in listing
    assert f"/staff/partnership/agreements/{old_id}\"" not in listing
    page = admin.get(f"/staff/partnership/agreements/{new.id}").get_data(as_text=True)
    assert f"/staff/partnership/agreements/{old_id}\"" in page
    # And the replaced version can no longer be changed
    r = _post(admin, f"/staff/partnership/agreements/{old_id}/edit", _form_of(old, title="X"))
    assert r.status_code == 400
    assert admin.get(f"/staff/partnership/agreements/{old_id}/edit").status_code == 302


def test_an_edit_may_not_widen_what_people_agreed_to(admin: FlaskClient,
                                                     session: Session) -> None:
    old = _agreement(session, "FEN-ISA-001")
    url = f"/staff/partnership/agreements/{old.id}/edit"
    before = _counts(session)
    health = _id(session, DataCategory, "health")
    widen = [
        (_form_of(old, categories=[str(c.id) for c in old.categories] + [health],
                  art9_condition="Art 9(2)(a) explicit consent"), "categories"),
        (_form_of(old, to_agency=_id(session, Agency, "fen-housing")), "from_agency"),
        (_form_of(old, purpose=_id(session, Purpose, "safeguarding")), "from_agency"),
        (_form_of(old, title=""), "title"),
    ]
    for form, field in widen:
        r = _post(admin, url, form)
        assert r.status_code == 400, form
        assert f'href="#{field}"' in r.get_data(as_text=True), field
    assert _counts(session) == before
    assert _agreement(session, "FEN-ISA-001").retired_at is None
    # Narrowing is fine: it becomes version 2
    r = _post(admin, url, _form_of(old, categories=[_id(session, DataCategory,
                                                          "contact-details")]))
    assert r.status_code == 302
    assert [c.slug for c in _agreement(session, "FEN-ISA-001", 2).categories] == \
        ["contact-details"]


def _ask(client: FlaskClient, key: str,
         categories: tuple[str, ...] = ("contact-details", "incident-report"),
         recipient: str = "victim-care", purpose: str = "victim-support-referral") -> Any:
    """Ask the consent-check API as Fenshire Police about FP-DEMO-0001 (who consented)."""
    r = client.post("/api/v1/consent/check", headers=bearer(key), json={
        "subject": {"agency_ref": "FP-DEMO-0001"}, "recipient": recipient,
        "purpose": purpose, "categories": list(categories)})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_consent_keeps_permitting_after_a_new_version_and_stops_when_retired(
        client: FlaskClient, session: Session, api_key: Any) -> None:
    key = api_key("fenshire-police", "consent:check")
    # Given a person whose consent permits sharing under FEN-ISA-001
    old = _agreement(session, "FEN-ISA-001")
    before = _ask(client, key)
    assert before["decision"] == "permit" and before["basis"] == "consent"
    # When a partnership admin changes the agreement (it is in use, so it is versioned)
    session.rollback()
    outcome = ops.update_agreement(session, old.id, ops.AgreementValues(
        title="New wording", from_agency_id=old.from_agency_id, to_agency_id=old.to_agency_id,
        purpose_id=old.purpose_id, lawful_basis="consent", valid_from=old.valid_from,
        category_ids=tuple(c.id for c in old.categories)), actor=STAFF)
    session.commit()
    assert outcome.versioned and _agreement(session, "FEN-ISA-001").retired_at is not None
    # Then the same consent still permits (the old version is retired: under the new one)
    after = _ask(client, key)
    assert after["decision"] == "permit", after
    assert after["categories"]["contact-details"]["consent_id"] == \
        before["categories"]["contact-details"]["consent_id"]
    # And when the agreement is retired outright, nothing permits under it any more
    session.rollback()
    ops.retire_agreement(session, outcome.agreement.id, actor=STAFF)
    session.commit()
    retired = _ask(client, key)
    assert retired["decision"] == "deny" and retired["reason"] == "no_agreement"
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "agreement.retire"))
    assert entry is not None and entry.object_id == str(outcome.agreement.id)


def test_a_statutory_agreement_edit_answers_with_the_new_gateway(
        client: FlaskClient, session: Session, api_key: Any) -> None:
    key = api_key("fenshire-police", "consent:check")
    council = {"categories": ("identity",), "recipient": "fenshire-city-council",
               "purpose": "asb-case-management"}
    # Given FEN-ISA-004 (public task), once asked about, so in use
    assert _ask(client, key, **council)["decision"] == "permit"
    old = _agreement(session, "FEN-ISA-004")
    assert ops.in_use(session, old)
    # When its gateway is corrected
    outcome = ops.update_agreement(session, old.id, ops.AgreementValues(
        title=old.title, from_agency_id=old.from_agency_id, to_agency_id=old.to_agency_id,
        purpose_id=old.purpose_id, lawful_basis="public-task", valid_from=old.valid_from,
        category_ids=tuple(c.id for c in old.categories),
        statutory_gateway="Crime and Disorder Act 1998 s115 and s17"), actor=STAFF)
    session.commit()
    # Then it became version 2 and the very next check names the new gateway
    assert outcome.versioned and outcome.agreement.version == 2
    answer = _ask(client, key, **council)
    assert answer["decision"] == "permit"
    assert answer["categories"]["identity"]["statutory_gateway"].endswith("and s17")


def test_retire_from_the_page(admin: FlaskClient, session: Session) -> None:
    old = _agreement(session, "FEN-ISA-002")
    url = f"/staff/partnership/agreements/{old.id}/retire"
    r = _post(admin, url, {})
    assert r.status_code == 302 and r.headers["Location"].endswith("?done=retired")
    gone = _agreement(session, "FEN-ISA-002")
    assert gone.retired_at is not None
    listing = admin.get("/staff/partnership/agreements").get_data(as_text=True)
    assert listing.index("FEN-ISA-002") > listing.index("Retired agreements")
    # Retiring twice is refused, with a clear error
    r = _post(admin, url, {})
    assert r.status_code == 400 and 'href="#retire"' in r.get_data(as_text=True)
    with pytest.raises(Conflict):
        ops.retire_agreement(session, old.id, actor=STAFF)
    assert admin.get("/staff/partnership/agreements/999999").status_code == 404


def test_first_contact_offers_no_notice_whose_agreements_are_all_retired(
        session: Session, demo: Any) -> None:
    from consent.first_contact import operations as first_contact

    police = operations.agency_by_slug(session, "fenshire-police")

    def offered() -> set[str]:
        return {a.version.notice.slug
                for a in first_contact.applicable_notices(session, police.id, "en")}

    # Given the Victim Care notice, offered at first contact
    assert "victim-support-referral" in offered()
    # When its agreement gets a new version, it is still offered
    old = _agreement(session, "FEN-ISA-001")
    outcome = ops.update_agreement(session, old.id, ops.AgreementValues(
        title="New wording", from_agency_id=old.from_agency_id, to_agency_id=old.to_agency_id,
        purpose_id=old.purpose_id, lawful_basis="consent", valid_from=old.valid_from,
        category_ids=tuple(c.id for c in old.categories)), actor=STAFF)
    session.commit()
    assert "victim-support-referral" in offered()
    # And once the agreement is retired outright, it is not
    ops.retire_agreement(session, outcome.agreement.id, actor=STAFF)
    session.commit()
    assert "victim-support-referral" not in offered()


# --- A changed lawful basis never turns a refusal or a withdrawal into a permit --------------

def _values(agreement: SharingAgreement, **change: Any) -> ops.AgreementValues:
    fields: dict[str, Any] = {
        "title": agreement.title, "from_agency_id": agreement.from_agency_id,
        "to_agency_id": agreement.to_agency_id, "purpose_id": agreement.purpose_id,
        "lawful_basis": agreement.lawful_basis, "valid_from": agreement.valid_from,
        "category_ids": tuple(c.id for c in agreement.categories),
        "statutory_gateway": agreement.statutory_gateway,
        "art9_condition": agreement.art9_condition, "valid_to": agreement.valid_to}
    fields.update(change)
    return ops.AgreementValues(**fields)


def _ask_about(client: FlaskClient, key: str, ref: str) -> Any:
    r = client.post("/api/v1/consent/check", headers=bearer(key), json={
        "subject": {"agency_ref": ref}, "recipient": "victim-care",
        "purpose": "victim-support-referral",
        "categories": ["contact-details", "incident-report"]})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


@pytest.mark.parametrize("basis", ["legitimate-interests", "public-task", "vital-interests"])
def test_a_consent_agreement_in_use_cannot_switch_to_another_basis(
        admin: FlaskClient, client: FlaskClient, session: Session, api_key: Any,
        basis: str) -> None:
    key = api_key("fenshire-police", "consent:check")
    # Given FEN-ISA-001 (consent), which Taylor refused and Sam withdrew from
    assert _ask_about(client, key, "FP-DEMO-0006")["reason"] == "refused"
    assert _ask_about(client, key, "FP-DEMO-0002")["reason"] == "withdrawn"
    old = _agreement(session, "FEN-ISA-001")
    before = _counts(session)
    # When a partnership admin edits it to another basis, same route and categories
    r = _post(admin, f"/staff/partnership/agreements/{old.id}/edit",
              _form_of(old, lawful_basis=basis,
                       statutory_gateway="Crime and Disorder Act 1998 s115"))
    # Then the edit is refused with a clear error, and nothing was versioned
    assert r.status_code == 400
    assert 'href="#lawful_basis"' in r.get_data(as_text=True)
    assert "cannot change to or from consent" in r.get_data(as_text=True)
    assert _counts(session) == before
    assert _agreement(session, "FEN-ISA-001").retired_at is None
    # And the refusal and the withdrawal still answer deny
    assert _ask_about(client, key, "FP-DEMO-0006")["decision"] == "deny"
    assert _ask_about(client, key, "FP-DEMO-0002")["decision"] == "deny"


def test_no_sequence_of_edits_widens_what_a_consent_permits(session: Session,
                                                            demo: Any) -> None:
    old = _agreement(session, "FEN-ISA-001")
    case_notes = int(_id(session, DataCategory, "case-notes"))
    with_case_notes = (*(c.id for c in old.categories), case_notes)
    # Given a consent agreement in use: the detour through another basis is refused at once
    with pytest.raises(ops.AgreementInvalid) as refused:
        ops.update_agreement(session, old.id, _values(old, lawful_basis="public-task",
                                                      statutory_gateway="CDA 1998 s115"),
                             actor=STAFF)
    assert ("lawful_basis", "basis-locked") in refused.value.problems
    session.rollback()
    # And after a narrowing edit (version 2), adding back what version 2 dropped is refused,
    # as is adding what no version listed
    contact = int(_id(session, DataCategory, "contact-details"))
    narrowed = ops.update_agreement(session, old.id, _values(old, category_ids=(contact,)),
                                    actor=STAFF).agreement
    session.commit()
    for categories in (tuple(c.id for c in old.categories), with_case_notes):
        with pytest.raises(ops.AgreementInvalid) as widened:
            ops.update_agreement(session, narrowed.id,
                                 _values(narrowed, category_ids=categories), actor=STAFF)
        assert ("categories", "categories-widened") in widened.value.problems
        session.rollback()


def test_a_later_version_keeps_its_route_and_basis_even_when_unused(
        admin: FlaskClient, client: FlaskClient, session: Session, api_key: Any) -> None:
    key = api_key("fenshire-police", "consent:check")
    council = {"categories": ("identity",), "recipient": "fenshire-city-council",
               "purpose": "asb-case-management"}
    # Given FEN-ISA-004 (public task) asked about, then versioned: version 2 is not yet in use
    assert _ask(client, key, **council)["decision"] == "permit"
    old = _agreement(session, "FEN-ISA-004")
    v2 = ops.update_agreement(session, old.id, _values(old, title="Reworded"),
                              actor=STAFF).agreement
    session.commit()
    assert not ops.in_use(session, v2)
    # Then its edit form shows the route as fixed, and says why
    form = admin.get(f"/staff/partnership/agreements/{v2.id}/edit").get_data(as_text=True)
    assert "Earlier versions of this agreement were relied on" in form
    assert 'id="to_agency"' not in form
    # When it is "corrected in place" to consent, or to another route
    housing = int(_id(session, Agency, "fen-housing"))
    for change, problem in (({"lawful_basis": "consent", "statutory_gateway": ""},
                             ("lawful_basis", "basis-locked")),
                            ({"to_agency_id": housing}, ("from_agency", "route-locked"))):
        with pytest.raises(ops.AgreementInvalid) as refused:
            ops.update_agreement(session, v2.id, _values(v2, **change), actor=STAFF)
        # Then it is refused: the lineage is what people relied on
        assert problem in refused.value.problems
        session.rollback()


def test_a_new_agreement_cannot_share_on_another_basis_what_a_route_shares_on_consent(
        admin: FlaskClient, client: FlaskClient, session: Session, api_key: Any) -> None:
    key = api_key("fenshire-police", "consent:check")
    incident = _id(session, DataCategory, "incident-report")
    before = _counts(session)
    statutory = _good(session, lawful_basis="public-task", categories=[incident],
                      statutory_gateway="Crime and Disorder Act 1998 s115")
    # Given the consent route Police -> Victim Care for referrals (FEN-ISA-001)
    # When a new public-task agreement on it would share a category it shares on consent
    r = _post(admin, NEW, statutory)
    # Then it is refused, and also once the consent agreement is retired (for ever)
    assert r.status_code == 400 and 'href="#lawful_basis"' in r.get_data(as_text=True)
    assert "another basis cannot share them here" in r.get_data(as_text=True)
    ops.retire_agreement(session, _agreement(session, "FEN-ISA-001").id, actor=STAFF)
    session.commit()
    before = _counts(session)
    r = _post(admin, NEW, statutory)
    assert r.status_code == 400 and "another basis cannot share them here" in \
        r.get_data(as_text=True)
    assert _counts(session) == before
    assert _ask_about(client, key, "FP-DEMO-0006")["decision"] == "deny"
    # And a consent agreement is refused for a category a route shares by law today
    r = _post(admin, NEW, _good(
        session, reference="FEN-ISA-101", to_agency=_id(session, Agency, "fenshire-city-council"),
        purpose=_id(session, Purpose, "asb-case-management"),
        categories=[_id(session, DataCategory, "identity")]))
    assert r.status_code == 400 and "cannot be asked for them here" in r.get_data(as_text=True)


def test_legitimate_interests_is_refused_for_a_public_authority(admin: FlaskClient,
                                                                session: Session) -> None:
    before = _counts(session)
    # Given police, council, NHS, probation and youth justice (public authorities)
    for slug in ("fenshire-police", "fenshire-city-council", "fenshire-nhs",
                 "fenshire-probation", "fenshire-youth-justice"):
        to = "fen-bid"
        # When one is made the discloser of a legitimate-interests agreement
        r = _post(admin, NEW, _good(session, from_agency=_id(session, Agency, slug),
                                    to_agency=_id(session, Agency, to),
                                    purpose=_id(session, Purpose, "business-crime-exclusion"),
                                    lawful_basis="legitimate-interests"))
        # Then it is refused, naming the rule
        assert r.status_code == 400, slug
        assert "not a lawful basis for a public authority" in r.get_data(as_text=True)
    assert _counts(session) == before
    # But a business crime partnership may rely on it
    r = _post(admin, NEW, _good(session, from_agency=_id(session, Agency, "fen-bid"),
                                to_agency=_id(session, Agency, "fenshire-police"),
                                purpose=_id(session, Purpose, "business-crime-exclusion"),
                                lawful_basis="legitimate-interests"))
    assert r.status_code == 302


def test_a_new_statutory_agreement_is_shown_to_the_people_it_affects(admin: FlaskClient,
                                                                    session: Session) -> None:
    from consent.selfservice import operations as selfservice
    from tests.staff_helpers import person_of

    # Given a person Fenshire Police holds records on
    person = person_of(session, "fenshire-police")
    shown = {(s.to_agency, s.purpose) for s in selfservice.statutory_sharing(session, person.id)}
    assert ("Fenshire Probation Delivery Unit", "Safeguarding children and adults at risk") \
        not in shown
    # When a partnership admin makes a new public-task agreement from the police
    r = _post(admin, NEW, _good(session, reference="FEN-ISA-110",
                                to_agency=_id(session, Agency, "fenshire-probation"),
                                purpose=_id(session, Purpose, "safeguarding"),
                                lawful_basis="public-task",
                                statutory_gateway="Children Act 2004 s11"))
    assert r.status_code == 302
    # Then it is on the person's statutory sharing page, with its law
    session.rollback()
    sharing = [s for s in selfservice.statutory_sharing(session, person.id)
               if s.to_agency == "Fenshire Probation Delivery Unit"
               and s.purpose == "Safeguarding children and adults at risk"]
    assert sharing and sharing[0].statutory_gateway == "Children Act 2004 s11"
