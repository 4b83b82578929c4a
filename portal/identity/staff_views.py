"""Staff sign-in, the second factor and sign-out; the signed-in staff member."""

from __future__ import annotations

import segno
from flask import Blueprint, Response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from portal import database, forms
from portal.errors import NotFound
from portal.extensions import client_address, limiter
from portal.http import public
from portal.identity import sessions
from portal.identity import staff as ops
from portal.identity.forms import StaffCodeForm, StaffSignInForm
from portal.identity.models import StaffUser
from portal.ui import safe_next

auth = Blueprint("staff_auth", __name__, url_prefix="/staff")


def _email_key() -> str:
    # Throttle per account as well as per address, without locking anyone else out.
    return "staff-email:" + (request.form.get("email") or "").strip().lower()[:320]


def _pending_key() -> str:
    return "staff-2fa:" + str(session.get("_user_id", client_address()))


def _half_signed_in() -> StaffUser | None:
    principal = sessions.current_principal()
    return principal if isinstance(principal, StaffUser) else None


def current() -> StaffUser:
    """The signed-in staff member (a view guarded by staff_required always has one)."""
    staff = sessions.current_staff()
    if staff is None:  # pragma: no cover - the decorator makes this impossible
        raise NotFound("not signed in")
    return staff


@auth.route("/sign-in", methods=["GET", "POST"])
@limiter.limit("10/minute", key_func=client_address, methods=["POST"])
@limiter.limit("5/minute", key_func=_email_key, methods=["POST"])
@public
def sign_in() -> str | BaseResponse | tuple[str, int]:
    """Staff sign-in, step one: email and password."""
    form = StaffSignInForm()
    if form.is_submitted():
        errors = [] if form.validate() else forms.errors_of(form)
        email = form.email.data
        if not errors:
            staff = ops.authenticate(database.session(), email, form.password.data[:1000])
            if staff is not None:
                sessions.sign_in(staff, mfa=False)
                session["staff_next"] = safe_next(request.args.get("next"), "")
                ops.record_sign_in(database.session(), staff, success=True, stage="password")
                return redirect(url_for("staff_auth.second_factor"))
            # The same answer for an unknown email and a wrong password.
            forms.add(errors, "email", _("The email address or password is not right"))
        return render_template("staff/sign_in.html", email=email, form_errors=errors), 400
    timed_out = session.pop("timed_out", False)
    return render_template("staff/sign_in.html", email="", form_errors=[],
                           timed_out=timed_out)


@auth.route("/second-factor", methods=["GET", "POST"])
@limiter.limit("5/minute", key_func=_pending_key, methods=["POST"])
@limiter.limit("10/minute", key_func=client_address, methods=["POST"])
@public
def second_factor() -> str | BaseResponse | tuple[str, int]:
    """Staff sign-in, step two: a code from the authenticator, set up on first sign-in."""
    staff = _half_signed_in()
    if staff is None:
        return redirect(url_for("staff_auth.sign_in"))
    if session.get("mfa"):
        return redirect(url_for("staff.home"))
    db = database.session()
    errors: forms.Errors = []
    enrolling = staff.totp_confirmed_at is None
    form = StaffCodeForm()
    if form.is_submitted() and enrolling and staff.totp_secret is None:
        # The QR code must be shown (and its secret saved) before a code can confirm it.
        return redirect(url_for("staff_auth.second_factor"))
    if form.is_submitted():
        code = form.code.data
        if not form.validate():
            errors = forms.errors_of(form)
        elif enrolling:
            try:
                recovery = ops.confirm_enrolment(db, staff, code)
            except Exception:  # noqa: BLE001 - any failure is a wrong code to the user
                forms.add(errors, "code", _("That code is not right. Check the time on your "
                                            "device and try the newest code."))
            else:
                sessions.mark_mfa_done()
                ops.record_sign_in(db, staff, success=True, stage="second-factor")
                return render_template("staff/recovery_codes.html", codes=recovery,
                                       next_url=session.pop("staff_next", "")
                                       or url_for("staff.home"))
        elif ops.verify_second_factor(db, staff, code):
            sessions.mark_mfa_done()
            ops.record_sign_in(db, staff, success=True, stage="second-factor")
            return redirect(session.pop("staff_next", "") or url_for("staff.home"))
        else:
            forms.add(errors, "code", _("That code is not right. Check the time on your "
                                        "device and try the newest code."))
        if not enrolling:
            return render_template("staff/second_factor.html", form_errors=errors), 400
    qr_svg = secret = None
    if enrolling:
        if staff.totp_secret is None:
            ops.begin_enrolment(db, staff)
        uri = ops.provisioning_uri(staff)
        qr_svg = segno.make(uri, error="m").svg_inline(scale=5, title=_("QR code for your "
                                                                        "authenticator app"))
        secret = staff.totp_secret
        # The secret stays the same until confirmed, so the QR code already scanned works.
        return render_template("staff/enrol.html", qr_svg=qr_svg, secret=secret,
                               form_errors=errors), (400 if errors else 200)
    return render_template("staff/second_factor.html", form_errors=errors)


@auth.post("/sign-out")
@sessions.staff_required()
def sign_out() -> BaseResponse:
    """End this and every other session of the staff member."""
    sessions.sign_out()
    return redirect(url_for("staff_auth.sign_in"))


def after_staff_request(response: Response) -> Response:
    """Staff pages carry personal data: never cache them."""
    response.headers["Cache-Control"] = "no-store"
    return response
