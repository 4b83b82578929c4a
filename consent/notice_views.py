"""Notice administration's pages (partnership admins): the rules are in consent.notices."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.exceptions import NotFound as HTTPNotFound
from werkzeug.utils import redirect
from werkzeug.wrappers import Response as BaseResponse

from consent import notices
from consent.forms import BAD_SLUG, NoticeForm, NoticeTextForm, PublishForm
from consent.models import Notice, NoticeVersion
from portal import database
from portal.errors import Conflict, Invalid, NotFound
from portal.identity.models import Role
from portal.identity.sessions import staff_required
from portal.identity.staff import staff_actor
from portal.identity.staff_views import after_staff_request, current
from portal.ui import LANGUAGE_NAMES

bp = Blueprint("notices", __name__, url_prefix="/staff/notices")
bp.after_request(after_staff_request)


def _languages() -> tuple[str, ...]:
    return tuple(current_app.config["PORTAL"].locales)


def _notice_or_404(notice_id: int) -> Notice:
    try:
        return notices.get_notice(database.session(), notice_id)
    except NotFound as exc:
        raise HTTPNotFound() from exc


def _list_page(form: NoticeForm) -> tuple[str, int]:
    found = list(database.session().scalars(select(Notice).order_by(Notice.slug)))
    return render_template("staff/notices.html", notices=found, staff=current(),
                           latest_published=notices.latest_published,
                           form_errors=form.summary, values=form.data), \
        (400 if form.summary else 200)


@bp.get("")
@staff_required(Role.PARTNERSHIP_ADMIN)
def index() -> tuple[str, int]:
    """Every notice with its versions and their status, and a form to add a notice."""
    return _list_page(NoticeForm(formdata=None))


@bp.post("")
@staff_required(Role.PARTNERSHIP_ADMIN)
def create() -> BaseResponse | tuple[str, int]:
    """Add a notice: its short name, then its first version's texts in the draft."""
    form = NoticeForm()
    if form.validate():
        try:
            draft = notices.create_notice(database.session(), form.slug.data,
                                          actor=staff_actor(current()))
        except Conflict:
            form.add_error("slug", _("That short name is already used"))
        except Invalid:
            form.add_error("slug", BAD_SLUG)
        else:
            return redirect(url_for("notices.draft", notice_id=draft.notice_id))
    return _list_page(form)


@bp.post("/<int:notice_id>/draft")
@staff_required(Role.PARTNERSHIP_ADMIN)
def new_draft(notice_id: int) -> BaseResponse:
    """Start the next version, prefilled from the newest published one."""
    notice = _notice_or_404(notice_id)
    if notices.draft_of(notice) is None:
        try:
            notices.start_draft(database.session(), notice.id, actor=staff_actor(current()))
        except Conflict as exc:  # a retired notice gets no new version
            raise HTTPNotFound() from exc
    return redirect(url_for("notices.draft", notice_id=notice.id))


def _draft_page(notice: Notice, errors: list[dict[str, str]] | None = None,
                values: dict[str, Any] | None = None) -> tuple[str, int]:
    errors = errors or []
    version = notices.draft_of(notice)
    if version is None:
        raise HTTPNotFound()
    previous = notices.latest_published(notice)
    texts = {t.language: t for t in version.texts}
    values = values if values is not None else {
        "agreements": [a.id for a in previous.agreements] if previous else []}
    return render_template("staff/notice_draft.html", notice=notice, version=version,
                           previous=previous, texts=texts, locales=_languages(),
                           language_names=LANGUAGE_NAMES,
                           missing=[LANGUAGE_NAMES.get(lang, lang) for lang
                                    in notices.missing_languages(version, _languages())],
                           agreements=notices.current_agreements(database.session()),
                           staff=current(), form_errors=errors, values=values), \
        (400 if errors else 200)


@bp.get("/<int:notice_id>/draft")
@staff_required(Role.PARTNERSHIP_ADMIN)
def draft(notice_id: int) -> tuple[str, int]:
    """The draft: each language's status, and publishing."""
    return _draft_page(_notice_or_404(notice_id))


def _text_page(notice: Notice, version: NoticeVersion, language: str,
               form: NoticeTextForm) -> tuple[str, int]:
    english = next((t for t in version.texts if t.language == "en"), None) \
        if language != "en" else None
    return render_template("staff/notice_text.html", notice=notice, version=version,
                           language=language,
                           language_name=LANGUAGE_NAMES.get(language, language),
                           staff=current(), form_errors=form.summary,
                           values={**form.data, "english": english}), \
        (400 if form.summary else 200)


@bp.route("/<int:notice_id>/draft/<language>", methods=["GET", "POST"])
@staff_required(Role.PARTNERSHIP_ADMIN)
def text(notice_id: int, language: str) -> BaseResponse | tuple[str, int]:
    """Write or translate the draft's text in one language, and mark it draft or approved."""
    notice = _notice_or_404(notice_id)
    version = notices.draft_of(notice)
    if version is None or language not in _languages():
        raise HTTPNotFound()
    if request.method == "GET":
        saved = next((t for t in version.texts if t.language == language), None)
        return _text_page(notice, version, language, NoticeTextForm(formdata=None, obj=saved))
    form = NoticeTextForm()
    if not form.validate():
        return _text_page(notice, version, language, form)
    notices.save_text(database.session(), version.id, language, title=form.title.data,
                      body=form.body.data, if_you_say_no=form.if_you_say_no.data,
                      status=form.status.data, languages=_languages(),
                      actor=staff_actor(current()))
    return redirect(url_for("notices.draft", notice_id=notice.id, saved=language))


@bp.post("/<int:notice_id>/publish")
@staff_required(Role.PARTNERSHIP_ADMIN)
def publish_draft(notice_id: int) -> BaseResponse | tuple[str, int]:
    """Publish the draft as a new version: needs every translation and a re-consent answer."""
    notice = _notice_or_404(notice_id)
    pending = notices.draft_of(notice)
    if pending is None:
        raise HTTPNotFound()
    form = PublishForm()
    form.known = {a.id for a in notices.current_agreements(database.session())}
    form.validate()
    missing = notices.missing_languages(pending, _languages())
    if missing:
        names = ", ".join(LANGUAGE_NAMES.get(lang, lang) for lang in missing)
        form.add_error("languages", _("The notice cannot be published until it has an "
                                      "approved text in every language. Missing: "
                                      "%(languages)s", languages=names))
    if form.summary:
        return _draft_page(notice, form.summary, {
            "agreements": form.agreement_ids, "requires_reconsent": form.requires_reconsent.data})
    published = notices.publish(database.session(), notice.id,
                                requires_reconsent=form.requires_reconsent.data == "yes",
                                agreement_ids=form.agreement_ids, languages=_languages(),
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
                           current=notices.latest_published(notice), staff=current())
