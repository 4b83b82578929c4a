"""An agency admin's staff: add a member, change roles, disable, reset a second factor.

Scoped to the admin's own agency: anyone else's staff member is "not found". A new member
is created by the same operation as the command line's (``create_staff``), with a random
password nobody is told; they get an emailed single-use link to choose their own password,
then enrol their authenticator at their first sign-in. The admin never knows a password, so
they cannot sign in as the member and enrol an authenticator of their own in the member's
name. Partnership admin is granted only from the command line, never on these pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Blueprint, current_app, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound as HTTPNotFound
from werkzeug.utils import redirect
from werkzeug.wrappers import Response as BaseResponse

from portal import audit, database, forms, mail
from portal.database import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.extensions import client_address, limiter
from portal.http import public
from portal.identity import second_factor
from portal.identity import staff as ops
from portal.identity.forms import NewStaffForm, RolesForm, StaffPasswordForm
from portal.identity.models import Role, StaffUser
from portal.identity.passwords import MAX_LENGTH, MIN_LENGTH, hash_password
from portal.identity.sessions import staff_required
from portal.identity.staff import GRANTABLE
from portal.identity.staff_views import after_staff_request, current

bp = Blueprint("staff_people", __name__, url_prefix="/staff/admin/staff")
bp.after_request(after_staff_request)
setup = Blueprint("staff_setup", __name__, url_prefix="/staff")
setup.after_request(after_staff_request)

ROLE_LABELS = {
    Role.CONSENT_OFFICER.value: _l("Consent officer: records consent, manages holdings"),
    Role.SAR_OFFICER.value: _l("SAR officer: reviews and redacts this agency's records for "
                               "subject access requests"),
    Role.SAR_COORDINATOR.value: _l("SAR coordinator: runs subject access requests for the "
                                   "whole partnership"),
    Role.AGENCY_ADMIN.value: _l("Agency admin: the agency's staff and API keys"),
    Role.PARTNERSHIP_ADMIN.value: _l("Partnership admin: agencies, agreements, notices"),
}
SETUP_SALT = "staff-set-password"
SETUP_MAX_AGE = 3 * 24 * 3600


# --- operations ----------------------------------------------------------------------------

def member_of(session: Session, admin: StaffUser, staff_id: int) -> StaffUser:
    """A staff member of the admin's own agency, or NotFound (another agency's too)."""
    member = session.get(StaffUser, staff_id)
    if member is None or member.agency_id != admin.agency_id:
        raise NotFound("no such staff member")
    return member


def _audit(session: Session, action: str, admin: StaffUser, member: StaffUser,
           **details: Any) -> None:
    # Ids and roles only: names and email addresses stay out of the audit log.
    audit.record(session, action, ops.staff_actor(admin), object_type="staff_user",
                 object_id=str(member.id), details=details)


def change_roles(session: Session, admin: StaffUser, staff_id: int, roles: Sequence[str]) \
        -> StaffUser:
    """Set a member's grantable roles; a partnership-admin role they hold is kept."""
    member = member_of(session, admin, staff_id)
    allowed = {r.value for r in GRANTABLE}
    chosen = [r.value for r in GRANTABLE if r.value in set(roles)]
    if not chosen or any(r not in allowed for r in roles):
        raise Invalid("choose one or more roles", field="roles")
    if member.id == admin.id and Role.AGENCY_ADMIN.value not in chosen:
        raise Conflict("you cannot remove your own agency admin role", field="roles")
    # Partnership-wide roles are not an agency's to grant or take away.
    kept = [r.value for r in (Role.PARTNERSHIP_ADMIN, Role.SAR_COORDINATOR)
            if r in member.role_set]
    before = sorted(member.role_set)
    member.roles = " ".join(chosen + kept)
    session.flush()
    _audit(session, "staff.roles_change", admin, member, before=before,
           after=sorted(member.role_set))
    return member


def disable(session: Session, admin: StaffUser, staff_id: int) -> StaffUser:
    """Disable a member: they cannot sign in, and every session of theirs ends at once."""
    member = member_of(session, admin, staff_id)
    if member.id == admin.id:
        raise Conflict("you cannot disable yourself")
    if member.disabled_at is not None:
        raise Conflict("already disabled")
    member.disabled_at = utcnow()
    member.session_epoch += 1
    session.flush()
    _audit(session, "staff.disable", admin, member)
    return member


def reset_second_factor(session: Session, admin: StaffUser, staff_id: int) -> StaffUser:
    """Forget a member's authenticator and recovery codes; they enrol a new one at their next
    sign-in (after their password), and their current sessions end."""
    member = member_of(session, admin, staff_id)
    if member.id == admin.id:
        raise Conflict("you cannot reset your own second factor")
    if member.disabled_at is not None:
        raise Conflict("disabled")
    member.totp_secret = None
    member.totp_confirmed_at = None
    member.session_epoch += 1
    second_factor.forget_recovery_codes(session, member)
    _audit(session, "staff.second_factor_reset", admin, member)
    return member


def set_password(session: Session, member: StaffUser, password: str) -> None:
    """The member's own new password (from their set-up link); other sessions end."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise Invalid("bad password length", field="password")
    member.password_hash = hash_password(password)
    member.session_epoch += 1
    session.flush()
    audit.record(session, "staff.password_set", ops.staff_actor(member),
                 object_type="staff_user", object_id=str(member.id))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["PORTAL"].secret_key, salt=SETUP_SALT)


def setup_token(member: StaffUser) -> str:
    """A link token bound to the member and their current password: once a password is set
    with it, the hash changes and the token no longer works."""
    return str(_serializer().dumps({"s": member.id, "h": member.password_hash[-24:]}))


def member_for_token(session: Session, token: str) -> StaffUser:
    """The member a valid, unused, unexpired set-up token names, or NotFound."""
    try:
        data = _serializer().loads(token[:1000], max_age=SETUP_MAX_AGE)
        member = session.get(StaffUser, int(data["s"]))
    except (BadData, KeyError, TypeError, ValueError) as exc:
        raise NotFound("bad link") from exc
    if member is None or member.disabled_at is not None \
            or member.password_hash[-24:] != data.get("h"):
        raise NotFound("bad link")
    return member


def send_setup_link(session: Session, admin: StaffUser | None, member: StaffUser, *,
                    actor: audit.Actor | None = None) -> str:
    """Email the member a link to choose their password (sent after the commit) and return
    it; ``admin`` is None from the command line, which passes its own ``actor``."""
    link: str = current_app.config["PORTAL"].public_url.rstrip("/") + url_for(
        "staff_setup.set_password_page", token=setup_token(member))
    text = render_template("email/staff/set_password.txt", name=member.name, link=link,
                           agency=(admin or member).agency.name, days=SETUP_MAX_AGE // 86400)
    mail.queue(mail.build(member.email, _("Set up your staff account"), text))
    if actor is None:
        if admin is None:
            raise ValueError("an admin or an actor is needed")
        actor = ops.staff_actor(admin)
    audit.record(session, "staff.setup_link_sent", actor, object_type="staff_user",
                 object_id=str(member.id), details={})
    return link


# --- pages ----------------------------------------------------------------------------------

def _members() -> list[StaffUser]:
    return list(database.session().scalars(
        select(StaffUser).where(StaffUser.agency_id == current().agency_id)
        .order_by(StaffUser.name, StaffUser.id)))


def _list_page(form: NewStaffForm, errors: forms.Errors | None = None) -> tuple[str, int]:
    errors = errors or []
    return render_template("staff/people.html", members=_members(), staff=current(),
                           role_labels=ROLE_LABELS, grantable=[r.value for r in GRANTABLE],
                           form=form, form_errors=errors), (400 if errors else 200)


@bp.get("")
@staff_required(Role.AGENCY_ADMIN)
def index() -> tuple[str, int]:
    """The agency's staff with their roles and status, and a form to add one."""
    return _list_page(NewStaffForm())


@bp.post("")
@staff_required(Role.AGENCY_ADMIN)
def add() -> BaseResponse | tuple[str, int]:
    """Add a staff member to the agency; they get an emailed link to set their password."""
    admin = current()
    form = NewStaffForm()
    if not form.validate():
        return _list_page(form, forms.errors_of(form))
    errors: forms.Errors = []
    db = database.session()
    try:
        member = ops.create_staff(db, ops.NewStaff(admin.agency.slug, form.email.data,
                                                   form.name.data, tuple(form.roles.data)),
                                  actor=ops.staff_actor(admin))
    except Conflict:
        forms.add(errors, "email", _("A staff member with that email address already exists"))
        return _list_page(form, errors)
    except Invalid:  # pragma: no cover - the form's checks catch what create_staff refuses
        forms.add(errors, "email", _("Enter an email address like name@example.org"))
        return _list_page(form, errors)
    send_setup_link(db, admin, member)
    return redirect(url_for("staff_people.member", staff_id=member.id, added="1"))


def _member_page(member: StaffUser, errors: forms.Errors | None = None,
                 form: RolesForm | None = None) -> tuple[str, int]:
    errors = errors or []
    # Without a roles form sent, the boxes show the roles the member has now.
    form = form or RolesForm(formdata=None, data={"roles": sorted(member.role_set)})
    return render_template("staff/person.html", member=member, staff=current(),
                           role_labels=ROLE_LABELS, grantable=[r.value for r in GRANTABLE],
                           form=form, form_errors=errors), (400 if errors else 200)


def _member_or_404(staff_id: int) -> StaffUser:
    try:
        return member_of(database.session(), current(), staff_id)
    except NotFound as exc:
        raise HTTPNotFound() from exc


@bp.get("/<int:staff_id>")
@staff_required(Role.AGENCY_ADMIN)
def member(staff_id: int) -> tuple[str, int]:
    """One staff member: roles, status, and what an admin can do about them."""
    return _member_page(_member_or_404(staff_id))


@bp.post("/<int:staff_id>/roles")
@staff_required(Role.AGENCY_ADMIN)
def roles(staff_id: int) -> BaseResponse | tuple[str, int]:
    """Change a member's roles (never to or from partnership admin)."""
    target = _member_or_404(staff_id)
    form = RolesForm()
    if not form.validate():
        return _member_page(target, forms.errors_of(form), form)
    errors: forms.Errors = []
    try:
        change_roles(database.session(), current(), target.id, form.roles.data)
    except Conflict:
        forms.add(errors, "roles", _("You cannot remove your own agency admin role"))
        return _member_page(target, errors, form)
    return redirect(url_for("staff_people.member", staff_id=target.id, done="roles"))


@bp.post("/<int:staff_id>/disable")
@staff_required(Role.AGENCY_ADMIN)
def disable_member(staff_id: int) -> BaseResponse | tuple[str, int]:
    """Disable a member: their sessions end at once."""
    target = _member_or_404(staff_id)
    errors: forms.Errors = []
    try:
        disable(database.session(), current(), target.id)
    except Conflict:
        forms.add(errors, "disable", _("You cannot disable yourself, or someone already "
                                       "disabled"))
        return _member_page(target, errors)
    return redirect(url_for("staff_people.member", staff_id=target.id, done="disabled"))


@bp.post("/<int:staff_id>/reset-second-factor")
@staff_required(Role.AGENCY_ADMIN)
def reset_member_second_factor(staff_id: int) -> BaseResponse | tuple[str, int]:
    """Make a member set up a new authenticator at their next sign-in."""
    target = _member_or_404(staff_id)
    errors: forms.Errors = []
    try:
        reset_second_factor(database.session(), current(), target.id)
    except Conflict:
        forms.add(errors, "reset", _("You cannot reset your own second factor, or a disabled "
                                     "member's"))
        return _member_page(target, errors)
    return redirect(url_for("staff_people.member", staff_id=target.id, done="reset"))


@bp.post("/<int:staff_id>/setup-link")
@staff_required(Role.AGENCY_ADMIN)
def resend_setup_link(staff_id: int) -> BaseResponse | tuple[str, int]:
    """Email the member a new link to choose their password (an old unused one still works
    until it expires; the first one used ends the others)."""
    target = _member_or_404(staff_id)
    if target.disabled_at is not None:
        errors: forms.Errors = []
        forms.add(errors, "setup", _("A disabled member gets no link"))
        return _member_page(target, errors)
    send_setup_link(database.session(), current(), target)
    return redirect(url_for("staff_people.member", staff_id=target.id, done="link"))


@setup.route("/set-password/<token>", methods=["GET", "POST"])
@limiter.limit("10/minute", key_func=client_address, methods=["POST"])
@public
def set_password_page(token: str) -> BaseResponse | tuple[str, int]:
    """A new member chooses their password from their emailed link, then signs in."""
    db = database.session()
    try:
        target = member_for_token(db, token)
    except NotFound:
        return render_template("staff/set_password.html", expired=True, form_errors=[]), 404
    form = StaffPasswordForm()
    errors: forms.Errors = []
    if form.is_submitted():
        if form.validate():
            set_password(db, target, form.password.data or "")
            session.clear()
            return redirect(url_for("staff_auth.sign_in", ready="1"))
        errors = forms.errors_of(form)
    return render_template("staff/set_password.html", expired=False, form_errors=errors), \
        (400 if errors else 200)
