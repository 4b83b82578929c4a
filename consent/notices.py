"""Notice administration's rules: draft a version, translate it, publish it.

A published version is never changed: a new text is a new version, drafted (prefilled from
the newest published one), translated into every configured language and then published.
Earlier published versions stay ``published``: the newest is the one offered, and the
check path reads every published version's coverage and re-consent mark (a version marked
``requires_reconsent`` keeps older consents from counting even after later versions).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent.models import Notice, NoticeText, NoticeVersion
from portal import audit
from portal.audit import Actor
from portal.database import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.reference.models import LawfulBasis, SharingAgreement

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
DRAFT, PUBLISHED = "draft", "published"
TEXT_STATUSES = ("draft", "approved")
MAX_TITLE, MAX_BODY, MAX_IF_NO = 300, 5000, 2000


class MissingTranslations(Invalid):
    """Publishing is refused: these configured languages have no approved text."""

    code = "missing-translations"

    def __init__(self, languages: Sequence[str]) -> None:
        super().__init__("missing translations: " + ", ".join(languages), field="languages")
        self.languages = list(languages)


def get_notice(session: Session, notice_id: int) -> Notice:
    """The notice, or NotFound."""
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise NotFound("no such notice")
    return notice


def draft_of(notice: Notice) -> NoticeVersion | None:
    """The notice's draft version, if one is being prepared."""
    return next((v for v in notice.versions if v.status == DRAFT), None)


def latest_published(notice: Notice) -> NoticeVersion | None:
    """The newest published version: the one people are shown."""
    published = [v for v in notice.versions if v.status == PUBLISHED]
    return max(published, key=lambda v: v.version) if published else None


def current_agreements(session: Session) -> list[SharingAgreement]:
    """The sharing agreements a new version may cover: not retired, and on consent (asking
    for consent to sharing another basis allows regardless would mislead the person)."""
    return list(session.scalars(select(SharingAgreement)
                                .where(SharingAgreement.retired_at.is_(None),
                                       SharingAgreement.lawful_basis == LawfulBasis.CONSENT)
                                .order_by(SharingAgreement.reference)))


def create_notice(session: Session, slug: str, *, actor: Actor) -> NoticeVersion:
    """A new notice with an empty draft version 1; a slug already taken is a Conflict."""
    if not SLUG.match(slug) or len(slug) > 64:
        raise Invalid("bad slug", field="slug")
    if session.scalar(select(func.count()).select_from(Notice).where(Notice.slug == slug)):
        raise Conflict("slug taken", field="slug")
    notice = Notice(slug=slug)
    session.add(notice)
    session.flush()
    draft = NoticeVersion(notice_id=notice.id, version=1, status=DRAFT,
                          requires_reconsent=False)
    session.add(draft)
    session.flush()
    audit.record(session, "notice.create", actor, object_type="notice",
                 object_id=str(notice.id), details={"slug": slug})
    return draft


def start_draft(session: Session, notice_id: int, *, actor: Actor) -> NoticeVersion:
    """A draft of the next version, its texts copied from the newest published version.

    The copied texts start as drafts: each language is approved again for the new version.
    """
    notice = get_notice(session, notice_id)
    if notice.retired_at is not None:
        raise Conflict("the notice is retired")
    if draft_of(notice) is not None:
        raise Conflict("a draft already exists")
    base = latest_published(notice)
    number = max((v.version for v in notice.versions), default=0) + 1
    draft = NoticeVersion(notice_id=notice.id, version=number, status=DRAFT,
                          requires_reconsent=False,
                          validity_days=base.validity_days if base else 365)
    session.add(draft)
    session.flush()
    for text in (base.texts if base else []):
        session.add(NoticeText(notice_version_id=draft.id, language=text.language,
                               title=text.title, body=text.body,
                               if_you_say_no=text.if_you_say_no, status="draft"))
    session.flush()
    session.refresh(notice)
    audit.record(session, "notice.draft", actor, object_type="notice",
                 object_id=str(notice.id),
                 details={"slug": notice.slug, "version": number,
                          "from_version": base.version if base else None})
    return draft


def save_text(session: Session, version_id: int, language: str, *, title: str, body: str,
              if_you_say_no: str, status: str, languages: Sequence[str],
              actor: Actor) -> NoticeText:
    """Write one language's text of a draft; a published version is never changed."""
    version = session.get(NoticeVersion, version_id)
    if version is None:
        raise NotFound("no such version")
    if version.status != DRAFT:
        raise Conflict("a published version cannot be changed")
    if language not in languages:
        raise Invalid("not a configured language", field="language")
    if status not in TEXT_STATUSES:
        raise Invalid("bad status", field="status")
    if not title.strip() or len(title) > MAX_TITLE or not body.strip() or len(body) > MAX_BODY \
            or len(if_you_say_no) > MAX_IF_NO:
        raise Invalid("missing or too long text", field="title")
    text = session.scalar(select(NoticeText).where(NoticeText.notice_version_id == version.id,
                                                   NoticeText.language == language))
    if text is None:
        text = NoticeText(notice_version_id=version.id, language=language)
        session.add(text)
    text.title, text.body, text.if_you_say_no, text.status = title, body, if_you_say_no, status
    session.flush()
    audit.record(session, "notice.text_saved", actor, object_type="notice",
                 object_id=str(version.notice_id),
                 details={"version": version.version, "language": language, "status": status})
    return text


def missing_languages(version: NoticeVersion, languages: Sequence[str]) -> list[str]:
    """The configured languages without an approved text in this version."""
    approved = {t.language for t in version.texts if t.status == "approved"}
    return [lang for lang in languages if lang not in approved]


def publish(session: Session, notice_id: int, *, requires_reconsent: bool,
            agreement_ids: Sequence[int], languages: Sequence[str],
            actor: Actor) -> NoticeVersion:
    """Publish the notice's draft as its newest version, covering these agreements."""
    notice = get_notice(session, notice_id)
    draft = draft_of(notice)
    if draft is None:
        raise NotFound("no draft to publish")
    missing = missing_languages(draft, languages)
    if missing:
        raise MissingTranslations(missing)
    wanted = set(agreement_ids)
    chosen = [a for a in current_agreements(session) if a.id in wanted]
    if not wanted or len(chosen) != len(wanted):
        raise Invalid("choose current sharing agreements", field="agreements")
    previous = latest_published(notice)
    draft.status = PUBLISHED
    draft.published_at = utcnow()
    draft.requires_reconsent = requires_reconsent
    draft.agreements = chosen
    session.flush()
    audit.record(session, "notice.publish", actor, object_type="notice",
                 object_id=str(notice.id),
                 details={"slug": notice.slug, "version": draft.version,
                          "supersedes_version": previous.version if previous else None,
                          "requires_reconsent": requires_reconsent,
                          "agreements": sorted(a.reference for a in chosen)})
    return draft
