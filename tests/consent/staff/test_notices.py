"""Partnership admins draft, translate and publish notices; published versions never change."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent import notices
from consent.first_contact import operations as fc
from consent.models import Notice, NoticeText, NoticeVersion
from portal.audit import AuditEntry
from portal.errors import Conflict
from portal.identity.models import Role
from portal.reference.models import SharingAgreement
from portal.reference.operations import agency_by_slug
from tests.identity_helpers import login, make_staff
from tests.staff_helpers import SYSTEM, csrf

LANGUAGES = ("en", "cy", "pl")
TEXT = {"title": "Passing your details to Victim Care",
        "body": "We would like to pass your name and number to Victim Care.",
        "if_you_say_no": "Saying no changes no service.", "status": "approved"}


def _admin(client: FlaskClient, session: Session) -> None:
    login(client, make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN))


def _notice(session: Session, slug: str) -> Notice:
    session.rollback()
    notice = session.scalar(select(Notice).where(Notice.slug == slug))
    assert notice is not None
    session.refresh(notice)
    return notice


def _agreement(session: Session, reference: str) -> SharingAgreement:
    row = session.scalar(select(SharingAgreement).where(SharingAgreement.reference == reference))
    assert row is not None
    return row


def _post(client: FlaskClient, url: str, data: dict[str, Any], page: str | None = None) -> Any:
    return client.post(url, data={"csrf_token": csrf(client, page or url), **data})


def _actions(session: Session, prefix: str) -> list[str]:
    session.rollback()
    return list(session.scalars(select(AuditEntry.action)
                                .where(AuditEntry.action.like(prefix + "%"))
                                .order_by(AuditEntry.id)))


def test_a_new_version_is_drafted_translated_and_published(client: FlaskClient,
                                                             session: Session,
                                                             demo: Any) -> None:
    # Given a partnership admin and the published notice victim-support-referral v1
    _admin(client, session)
    notice = _notice(session, "victim-support-referral")
    base = f"/staff/notices/{notice.id}"
    page = client.get("/staff/notices").get_data(as_text=True)
    assert "victim-support-referral" in page and "idva-referral" in page
    # When they draft a new version
    r = _post(client, f"{base}/draft", {}, "/staff/notices")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"{base}/draft")
    notice = _notice(session, "victim-support-referral")
    draft = notices.draft_of(notice)
    # Then it is version 2, prefilled from version 1, each language waiting for approval
    assert draft is not None and draft.version == 2
    assert {t.language: t.status for t in draft.texts} == dict.fromkeys(LANGUAGES, "draft")
    html = client.get(f"{base}/draft").get_data(as_text=True)
    fen1 = _agreement(session, "FEN-ISA-001")
    # The previous version's agreement is proposed, and nothing is chosen about re-consent
    assert re.search(rf'value="{fen1.id}" checked', html)
    for tag in re.findall(r'<input[^>]*name="requires_reconsent"[^>]*>', html):
        assert "checked" not in tag
    # When each language is approved and the version published, needing re-consent
    for lang in LANGUAGES:
        r = _post(client, f"{base}/draft/{lang}", {**TEXT, "title": f"{lang} title"})
        assert r.status_code == 302, lang
    r = _post(client, f"{base}/publish", {"requires_reconsent": "yes",
                                          "agreements": [str(fen1.id)]}, f"{base}/draft")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"{base}/versions/2?"
                                                                   "published=1")
    # Then version 2 is the current one, and version 1 stays as it was, superseded
    notice = _notice(session, "victim-support-referral")
    v1, v2 = notice.versions
    assert (v1.status, v2.status) == ("published", "published")
    assert notices.latest_published(notice) is v2
    assert v2.requires_reconsent and v2.published_at is not None
    assert [a.reference for a in v2.agreements] == ["FEN-ISA-001"]
    assert {t.language: (t.title, t.status) for t in v2.texts} == {
        lang: (f"{lang} title", "approved") for lang in LANGUAGES}
    assert all(not t.title.endswith(" title") for t in v1.texts)
    # First contact now shows the new version
    police = agency_by_slug(session, "fenshire-police")
    shown = [a.version.version for a in fc.applicable_notices(session, police.id, "en")
             if a.version.notice_id == notice.id]
    assert shown == [2]
    assert "Superseded" in client.get("/staff/notices").get_data(as_text=True)
    # And every step is audited, with no words of the notice in the log
    assert _actions(session, "notice.") == ["notice.draft"] + ["notice.text_saved"] * 3 + [
        "notice.publish"]
    details = session.scalars(select(AuditEntry.details)
                              .where(AuditEntry.action.like("notice.%"))).all()
    assert not any("title" in d or "Victim Care" in d for d in details)


def test_a_new_notice_starts_as_an_empty_draft(client: FlaskClient, session: Session,
                                               demo: Any) -> None:
    _admin(client, session)
    r = _post(client, "/staff/notices", {"slug": "fire-safety-visit"})
    assert r.status_code == 302
    notice = _notice(session, "fire-safety-visit")
    assert [(v.version, v.status, v.texts) for v in notice.versions] == [(1, "draft", [])]
    html = client.get(f"/staff/notices/{notice.id}/draft").get_data(as_text=True)
    assert html.count("Missing") >= 3
    assert _actions(session, "notice.create") == ["notice.create"]


def test_publishing_is_refused_while_a_language_lacks_an_approved_text(
        client: FlaskClient, session: Session, demo: Any) -> None:
    # Given a new notice with an approved English text and a Welsh one still in draft
    _admin(client, session)
    _post(client, "/staff/notices", {"slug": "fire-safety-visit"})
    notice = _notice(session, "fire-safety-visit")
    base = f"/staff/notices/{notice.id}"
    assert _post(client, f"{base}/draft/en", TEXT).status_code == 302
    assert _post(client, f"{base}/draft/cy", {**TEXT, "status": "draft"}).status_code == 302
    fen2 = _agreement(session, "FEN-ISA-002")
    # When they try to publish
    r = _post(client, f"{base}/publish", {"requires_reconsent": "no",
                                          "agreements": [str(fen2.id)]}, f"{base}/draft")
    # Then it is refused, naming the languages still missing, and nothing is published
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert 'href="#languages"' in html
    assert "Missing: Cymraeg, Polski" in html
    notice = _notice(session, "fire-safety-visit")
    assert [v.status for v in notice.versions] == ["draft"]
    assert notice.versions[0].agreements == []
    assert _actions(session, "notice.publish") == []
    # And once every language is approved it publishes
    for lang in ("cy", "pl"):
        assert _post(client, f"{base}/draft/{lang}", TEXT).status_code == 302
    r = _post(client, f"{base}/publish", {"requires_reconsent": "no",
                                          "agreements": [str(fen2.id)]}, f"{base}/draft")
    assert r.status_code == 302
    assert [v.status for v in _notice(session, "fire-safety-visit").versions] == ["published"]


def test_bad_input_on_every_notice_form_saves_nothing(client: FlaskClient, session: Session,
                                                      demo: Any) -> None:
    retired = _agreement(session, "FEN-ISA-004")
    retired.retired_at = retired.valid_from
    session.commit()
    _admin(client, session)
    notice = _notice(session, "restorative-justice")
    base = f"/staff/notices/{notice.id}"
    count = session.scalar(select(func.count()).select_from(Notice))
    for slug in ("", "Not A Slug", "x" * 65, "idva-referral", "<b>x</b>"):
        r = _post(client, "/staff/notices", {"slug": slug})
        assert r.status_code == 400 and 'href="#slug"' in r.get_data(as_text=True), slug
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Notice)) == count
    _post(client, f"{base}/draft", {}, "/staff/notices")
    texts_before = {(t.language, t.title, t.body, t.status)
                    for t in notices.draft_of(_notice(session, "restorative-justice")).texts}
    bad_texts = [({"title": ""}, "title"), ({"title": "x" * 301}, "title"),
                 ({"title": "<script>alert(1)</script>"}, "title"), ({"body": ""}, "body"),
                 ({"body": "x" * 5001}, "body"), ({"body": "Click <a href=x>here</a>"}, "body"),
                 ({"if_you_say_no": "x" * 2001}, "if_you_say_no"), ({"status": ""}, "status"),
                 ({"status": "published"}, "status")]
    for change, field in bad_texts:
        r = _post(client, f"{base}/draft/cy", {**TEXT, **change})
        assert r.status_code == 400, change
        assert f'href="#{field}"' in r.get_data(as_text=True), change
    draft = notices.draft_of(_notice(session, "restorative-justice"))
    assert draft is not None
    assert {(t.language, t.title, t.body, t.status) for t in draft.texts} == texts_before
    assert client.get(f"{base}/draft/de").status_code == 404
    for lang in LANGUAGES:
        _post(client, f"{base}/draft/{lang}", TEXT)
    fen2 = _agreement(session, "FEN-ISA-002")
    bad_publish = [({"agreements": [str(fen2.id)]}, "requires_reconsent"),
                   ({"requires_reconsent": "maybe", "agreements": [str(fen2.id)]},
                    "requires_reconsent"),
                   ({"requires_reconsent": "no"}, "agreements"),
                   ({"requires_reconsent": "no", "agreements": ["999999"]}, "agreements"),
                   ({"requires_reconsent": "no", "agreements": [str(retired.id)]}, "agreements"),
                   ({"requires_reconsent": "no", "agreements": ["x"]}, "agreements")]
    for data, field in bad_publish:
        r = _post(client, f"{base}/publish", data, f"{base}/draft")
        assert r.status_code == 400, data
        assert f'href="#{field}"' in r.get_data(as_text=True), data
    assert [v.status for v in _notice(session, "restorative-justice").versions] == [
        "published", "draft"]
    assert _actions(session, "notice.publish") == []


def test_published_versions_are_immutable(client: FlaskClient, session: Session,
                                          demo: Any) -> None:
    # Given a notice with only published versions
    _admin(client, session)
    notice = _notice(session, "idva-referral")
    base = f"/staff/notices/{notice.id}"
    v2 = notice.versions[-1]
    before = {(t.language, t.title, t.body, t.status) for t in v2.texts}
    # Then no page edits or republishes it: there is no draft to write to
    assert client.get(f"{base}/draft").status_code == 404
    assert _post(client, f"{base}/draft/en", TEXT, "/staff/notices").status_code == 404
    r = _post(client, f"{base}/publish", {"requires_reconsent": "no"}, "/staff/notices")
    assert r.status_code == 404
    # And the operation itself refuses to change a published version's text
    with pytest.raises(Conflict):
        notices.save_text(session, v2.id, "en", title="Changed", body="Changed",
                          if_you_say_no="", status="approved", languages=LANGUAGES,
                          actor=SYSTEM)
    session.rollback()
    # While a new draft is being written, the published version stays as it was
    _post(client, f"{base}/draft", {}, "/staff/notices")
    assert _post(client, f"{base}/draft/en", {**TEXT, "title": "New"}).status_code == 302
    session.rollback()
    v2 = session.get(NoticeVersion, v2.id)
    assert v2 is not None and v2.status == "published"
    assert {(t.language, t.title, t.body, t.status) for t in v2.texts} == before
    assert client.get(f"{base}/versions/2").status_code == 200
    assert client.get(f"{base}/versions/9").status_code == 404


def test_a_second_draft_is_not_started_beside_the_first(client: FlaskClient, session: Session,
                                                        demo: Any) -> None:
    _admin(client, session)
    notice = _notice(session, "idva-referral")
    for _ in range(2):
        assert _post(client, f"/staff/notices/{notice.id}/draft", {},
                     "/staff/notices").status_code == 302
    notice = _notice(session, "idva-referral")
    assert [v.status for v in notice.versions] == ["published", "published", "draft"]
    assert session.scalar(select(func.count()).select_from(NoticeText).where(
        NoticeText.notice_version_id == notices.draft_of(notice).id)) == len(  # type: ignore[union-attr]
            notice.versions[1].texts)
    with pytest.raises(Conflict):
        notices.start_draft(session, notice.id, actor=SYSTEM)
    assert client.post("/staff/notices/999999/draft",
                       data={"csrf_token": csrf(client, "/staff/notices")}).status_code == 404


def _publish_next(client: FlaskClient, session: Session, slug: str, reconsent: str) -> int:
    """Draft, approve in every language and publish the next version of a demo notice."""
    notice = _notice(session, slug)
    base = f"/staff/notices/{notice.id}"
    agreements = [str(a.id) for a in notices.latest_published(notice).agreements]  # type: ignore[union-attr]
    assert _post(client, f"{base}/draft", {}, "/staff/notices").status_code == 302
    for lang in LANGUAGES:
        assert _post(client, f"{base}/draft/{lang}", TEXT).status_code == 302
    r = _post(client, f"{base}/publish", {"requires_reconsent": reconsent,
                                          "agreements": agreements}, f"{base}/draft")
    assert r.status_code == 302
    return notice.id


def _check(client: FlaskClient, key: str, ref: str, recipient: str, purpose: str) -> Any:
    from tests.conftest import bearer

    r = client.post("/api/v1/consent/check", headers=bearer(key), json={
        "subject": {"agency_ref": ref}, "recipient": recipient, "purpose": purpose,
        "categories": ["contact-details"]})
    assert r.status_code == 200
    return r.get_json()


def test_the_check_follows_the_re_consent_answer(client: FlaskClient, session: Session,
                                                 demo: Any, api_key: Any) -> None:
    # Given FP-DEMO-0001, who said yes to victim-support-referral version 1
    key = api_key("fenshire-police", "consent:check")
    _admin(client, session)
    route = ("victim-care", "victim-support-referral")
    assert _check(client, key, "FP-DEMO-0001", *route)["decision"] == "permit"
    # When version 2 is published as a change that needs no new consent, the yes still counts
    _publish_next(client, session, "victim-support-referral", "no")
    assert _check(client, key, "FP-DEMO-0001", *route)["decision"] == "permit"
    # When version 3 is published as one that does, the check denies until they say yes again
    _publish_next(client, session, "victim-support-referral", "yes")
    body = _check(client, key, "FP-DEMO-0001", *route)
    assert (body["decision"], body["reason"]) == ("deny", "reconsent_required")


def test_a_later_version_keeps_an_earlier_re_consent_mark(client: FlaskClient,
                                                          session: Session, demo: Any,
                                                          api_key: Any) -> None:
    # Given FP-DEMO-0004, who said yes to idva-referral v1 before v2 needed a new consent
    key = api_key("fenshire-police", "consent:check")
    _admin(client, session)
    route = ("fenshire-idva", "domestic-abuse-risk")
    assert _check(client, key, "FP-DEMO-0004", *route)["reason"] == "reconsent_required"
    # When version 3 is published with no need to consent again
    _publish_next(client, session, "idva-referral", "no")
    # Then their version 1 yes still does not count: version 2's mark stands
    body = _check(client, key, "FP-DEMO-0004", *route)
    assert (body["decision"], body["reason"]) == ("deny", "reconsent_required")
    assert [v.status for v in _notice(session, "idva-referral").versions] == ["published"] * 3


def test_a_notice_asks_for_consent_only_to_sharing_on_consent(session: Session,
                                                              demo: Any) -> None:
    from portal.errors import Invalid

    # Given a draft of the restorative justice notice, its text approved
    notice = _notice(session, "restorative-justice")
    draft = notices.start_draft(session, notice.id, actor=SYSTEM)
    for text in draft.texts:
        text.status = "approved"
    session.commit()
    by_law = _agreement(session, "FEN-ISA-004")  # public task
    # Then an agreement on another basis is not offered, and publishing with it is refused
    assert by_law.id not in {a.id for a in notices.current_agreements(session)}
    with pytest.raises(Invalid) as refused:
        notices.publish(session, notice.id, requires_reconsent=False,
                        agreement_ids=[_agreement(session, "FEN-ISA-002").id, by_law.id],
                        languages=("en",), actor=SYSTEM)
    assert refused.value.field == "agreements"
