"""Notice administration: draft a version, translate it, publish it (partnership admins).

A published version is never changed: a new text is a new version, drafted (prefilled from
the newest published one), translated into every configured language and then published.
Earlier published versions stay ``published``: the newest is the one offered, and the
check path reads every published version's coverage and re-consent mark (a version marked
``requires_reconsent`` keeps older consents from counting even after later versions).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound as HTTPNotFound
from werkzeug.utils import redirect
from werkzeug.wrappers import Response as BaseResponse

from consent.models import Notice, NoticeText, NoticeVersion
from portal import audit, database, forms
from portal.audit import Actor
from portal.database import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.identity.models import Role
from portal.identity.sessions import staff_required
from portal.identity.staff import staff_actor
from portal.identity.staff_views import after_staff_request, current
from portal.reference.models import LawfulBasis, SharingAgreement
from portal.ui import LANGUAGE_NAMES

bp = Blueprint("notices", __name__, url_prefix="/staff/notices")
bp.after_request(after_staff_request)

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


# --- operations ----------------------------------------------------------------------------

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


# --- pages ----------------------------------------------------------------------------------

def _languages() -> tuple[str, ...]:
    return tuple(current_app.config["PORTAL"].locales)


def _notice_or_404(notice_id: int) -> Notice:
    try:
        return get_notice(database.session(), notice_id)
    except NotFound as exc:
        raise HTTPNotFound() from exc


def _list_page(errors: forms.Errors | None = None,
               values: dict[str, Any] | None = None) -> tuple[str, int]:
    errors = errors or []
    notices = list(database.session().scalars(select(Notice).order_by(Notice.slug)))
    return render_template("staff/notices.html", notices=notices, staff=current(),
                           latest_published=latest_published, form_errors=errors,
                           values=values or {}), (400 if errors else 200)


@bp.get("")
@staff_required(Role.PARTNERSHIP_ADMIN)
def index() -> tuple[str, int]:
    """Every notice with its versions and their status, and a form to add a notice."""
    return _list_page()


@bp.post("")
@staff_required(Role.PARTNERSHIP_ADMIN)
def create() -> BaseResponse | tuple[str, int]:
    """Add a notice: its short name, then its first version's texts in the draft."""
    errors: forms.Errors = []
    slug = forms.text(request.form, "slug", errors, label=_l("the short name"), max_length=64)
    bad_slug = _("The short name may contain only lower-case letters, digits and single "
                 "hyphens, like victim-referral")
    if slug and not errors and not SLUG.match(slug):
        forms.add(errors, "slug", bad_slug)
    if not errors:
        try:
            draft = create_notice(database.session(), slug, actor=staff_actor(current()))
        except Conflict:
            forms.add(errors, "slug", _("That short name is already used"))
        except Invalid:
            forms.add(errors, "slug", bad_slug)
        else:
            return redirect(url_for("notices.draft", notice_id=draft.notice_id))
    return _list_page(errors, {"slug": slug})


@bp.post("/<int:notice_id>/draft")
@staff_required(Role.PARTNERSHIP_ADMIN)
def new_draft(notice_id: int) -> BaseResponse:
    """Start the next version, prefilled from the newest published one."""
    notice = _notice_or_404(notice_id)
    if draft_of(notice) is None:
        try:
            start_draft(database.session(), notice.id, actor=staff_actor(current()))
        except Conflict as exc:  # a retired notice gets no new version
            raise HTTPNotFound() from exc
    return redirect(url_for("notices.draft", notice_id=notice.id))


def _draft_page(notice: Notice, errors: forms.Errors | None = None,
                values: dict[str, Any] | None = None) -> tuple[str, int]:
    errors = errors or []
    version = draft_of(notice)
    if version is None:
        raise HTTPNotFound()
    previous = latest_published(notice)
    texts = {t.language: t for t in version.texts}
    values = values if values is not None else {
        "agreements": [a.id for a in previous.agreements] if previous else []}
    return render_template("staff/notice_draft.html", notice=notice, version=version,
                           previous=previous, texts=texts, locales=_languages(),
                           language_names=LANGUAGE_NAMES,
                           missing=[LANGUAGE_NAMES.get(lang, lang)
                                    for lang in missing_languages(version, _languages())],
                           agreements=current_agreements(database.session()),
                           staff=current(), form_errors=errors, values=values), \
        (400 if errors else 200)


@bp.get("/<int:notice_id>/draft")
@staff_required(Role.PARTNERSHIP_ADMIN)
def draft(notice_id: int) -> tuple[str, int]:
    """The draft: each language's status, and publishing."""
    return _draft_page(_notice_or_404(notice_id))


def _text_page(notice: Notice, version: NoticeVersion, language: str,
               errors: forms.Errors | None = None,
               values: dict[str, Any] | None = None) -> tuple[str, int]:
    errors = errors or []
    if values is None:
        text = next((t for t in version.texts if t.language == language), None)
        english = next((t for t in version.texts if t.language == "en"), None)
        values = {"title": text.title, "body": text.body, "if_you_say_no": text.if_you_say_no,
                  "status": text.status} if text else {}
        values["english"] = english if language != "en" else None
    return render_template("staff/notice_text.html", notice=notice, version=version,
                           language=language, language_name=LANGUAGE_NAMES.get(language,
                                                                                language),
                           staff=current(), form_errors=errors, values=values), \
        (400 if errors else 200)


@bp.route("/<int:notice_id>/draft/<language>", methods=["GET", "POST"])
@staff_required(Role.PARTNERSHIP_ADMIN)
def text(notice_id: int, language: str) -> BaseResponse | tuple[str, int]:
    """Write or translate the draft's text in one language, and mark it draft or approved."""
    notice = _notice_or_404(notice_id)
    version = draft_of(notice)
    if version is None or language not in _languages():
        raise HTTPNotFound()
    if request.method == "GET":
        return _text_page(notice, version, language)
    form = request.form
    errors: forms.Errors = []
    values: dict[str, Any] = {
        "title": forms.text(form, "title", errors, label=_l("the title"),
                            max_length=MAX_TITLE, name_like=True),
        "body": forms.text(form, "body", errors, label=_l("the notice text"),
                           max_length=MAX_BODY, name_like=True),
        "if_you_say_no": forms.text(form, "if_you_say_no", errors,
                                    label=_l("what happens if the person says no"),
                                    required=False, max_length=MAX_IF_NO, name_like=True),
        "status": forms.choice(form, "status", errors, set(TEXT_STATUSES),
                               message=_l("Choose whether this translation is ready")),
    }
    if errors:
        values["english"] = next((t for t in version.texts if t.language == "en"), None) \
            if language != "en" else None
        return _text_page(notice, version, language, errors, values)
    save_text(database.session(), version.id, language, title=values["title"],
              body=values["body"], if_you_say_no=values["if_you_say_no"],
              status=values["status"], languages=_languages(), actor=staff_actor(current()))
    return redirect(url_for("notices.draft", notice_id=notice.id, saved=language))


@bp.post("/<int:notice_id>/publish")
@staff_required(Role.PARTNERSHIP_ADMIN)
def publish_draft(notice_id: int) -> BaseResponse | tuple[str, int]:
    """Publish the draft as a new version: needs every translation and a re-consent answer."""
    notice = _notice_or_404(notice_id)
    pending = draft_of(notice)
    if pending is None:
        raise HTTPNotFound()
    form = request.form
    errors: forms.Errors = []
    reconsent = forms.choice(form, "requires_reconsent", errors, {"yes", "no"},
                             message=_l("Say whether people need to consent again"))
    raw = form.getlist("agreements")
    ids = [int(a) for a in raw if a.isdigit()]
    known = {a.id for a in current_agreements(database.session())}
    if not ids or len(ids) != len(raw) or not set(ids) <= known:
        forms.add(errors, "agreements", _("Choose the sharing agreements this notice covers"))
    missing = missing_languages(pending, _languages())
    if missing:
        names = ", ".join(LANGUAGE_NAMES.get(lang, lang) for lang in missing)
        forms.add(errors, "languages", _("The notice cannot be published until it has an "
                                         "approved text in every language. Missing: "
                                         "%(languages)s", languages=names))
    values = {"agreements": ids, "requires_reconsent": reconsent}
    if errors:
        return _draft_page(notice, errors, values)
    published = publish(database.session(), notice.id, requires_reconsent=reconsent == "yes",
                        agreement_ids=ids, languages=_languages(),
                        actor=staff_actor(current()))
    return redirect(url_for("notices.version", notice_id=notice.id,
                            number=published.version, published="1"))


@bp.get("/<int:notice_id>/versions/<int:number>")
@staff_required(Role.PARTNERSHIP_ADMIN)
def version(notice_id: int, number: int) -> str:
    """One version as published (or as drafted), read only."""
    notice = _notice_or_404(notice_id)
    found = next((v for v in notice.versions if v.version == number), None)
    if found is None:
        raise HTTPNotFound()
    texts = sorted(found.texts, key=lambda t: (t.language != "en", t.language))
    return render_template("staff/notice_version.html", notice=notice, version=found,
                           texts=texts, language_names=LANGUAGE_NAMES,
                           current=latest_published(notice), staff=current())
