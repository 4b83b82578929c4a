"""Public accounts: register, confirm the email address, sign in and out, reset, TOTP."""

from __future__ import annotations

import uuid
from typing import Any

import pyotp
import segno
from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.exceptions import NotFound as HTTPNotFound
from werkzeug.wrappers import Response

from portal import audit, database, mail
from portal.config import Config
from portal.errors import Conflict, DomainError, Invalid
from portal.extensions import client_address, limiter
from portal.http import no_store, public
from portal.identity import claims, forms, operations, sessions
from portal.identity import operations as ops
from portal.identity import second_factor as factor
from portal.identity.models import Account
from portal.reference.models import Subject
from portal.ui import safe_next

bp = Blueprint("accounts", __name__, url_prefix="/account")
bp.after_request(no_store)

VERIFY_SALT = "public-account-verify-email"
VERIFY_MAX_AGE = 3 * 24 * 3600
RESET_SALT = "public-account-password-reset"
RESET_MAX_AGE = 3600


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def _config() -> Config:
    config: Config = current_app.config["PORTAL"]
    return config


def _language() -> str:
    return str(get_locale() or "en")


def _form_key() -> str:
    """Throttle per account (the address typed) from one address, so that one attacker
    cannot lock the owner out from elsewhere."""
    email = ops.normalise_email(request.form.get("email", ""))[:320]
    return f"{email}|{client_address()}"


def _account_key() -> str:
    account = sessions.current_account()
    principal = f"account:{account.id}" if account else "anonymous"
    return f"{principal}|{client_address()}"


def _half_signed_in_key() -> str:
    return f"mfa:{session.get('_user_id', '')}"


def verification_token(account: Account) -> str:
    """A signed, expiring link token bound to the account and its address."""
    return _serializer(VERIFY_SALT).dumps({"a": str(account.id), "e": account.email})


def reset_token(account: Account) -> str:
    """A signed, expiring token bound to the account's current password (so it works once)."""
    return _serializer(RESET_SALT).dumps({"a": str(account.id),
                                          "h": account.password_hash[-24:]})


def _send(to: str, subject: str, template: str, **values: Any) -> None:
    text = render_template(f"email/public/{template}.txt", **values)
    mail.queue(mail.build(to, subject, text))


def _send_verification(account: Account) -> None:
    link = _config().public_url.rstrip("/") + url_for("accounts.verify",
                                                      token=verification_token(account))
    # Account emails name no service in their subject: whoever reads the mailbox sees only
    # that the portal wrote (the body's first line says what it is).
    _send(account.email, mail.neutral_subject(_config()), "verify", link=link)


@bp.route("/register", methods=["GET", "POST"])
@public
@limiter.limit("10/minute", methods=["POST"])
def register() -> str | Response:
    """Create an account; the same answer whether or not the address is already known."""
    form = forms.RegisterForm()
    if not form.validate_on_submit():
        return render_template("accounts/register.html", form=form,
                               form_errors=forms.errors_of(form))
    db = database.session()
    account, created = ops.register(db, form.email.data or "", form.password.data or "",
                                    language=_language(), actor=sessions.actor())
    if created or account.email_verified_at is None:
        # A second try before confirming: the address's owner gets a fresh link.
        _send_verification(account)
    else:
        link = _config().public_url.rstrip("/") + url_for("accounts.reset")
        _send(account.email, mail.neutral_subject(_config()), "exists", link=link)
    return redirect(url_for("accounts.check_email"))


@bp.get("/check-your-email")
@public
def check_email() -> str:
    """Tell the person to follow the link we sent."""
    return render_template("accounts/check_email.html")


@bp.get("/verify/<token>")
@public
@limiter.limit("20/minute")
def verify(token: str) -> str | Response:
    """Confirm the address from the emailed link, then explain Exit this page (first time)."""
    try:
        data = _serializer(VERIFY_SALT).loads(token[:1000], max_age=VERIFY_MAX_AGE)
        account_id = uuid.UUID(str(data["a"]))
        email = str(data["e"])
    except (BadData, KeyError, TypeError, ValueError):
        return render_template("accounts/link_expired.html"), 400  # type: ignore[return-value]
    try:
        ops.verify_email(database.session(), account_id, email, actor=sessions.actor())
    except DomainError:
        return render_template("accounts/link_expired.html"), 400  # type: ignore[return-value]
    return render_template("accounts/verified.html")


@bp.route("/sign-in", methods=["GET", "POST"])
@public
@limiter.limit("20/minute", methods=["POST"])
@limiter.limit("5/minute", methods=["POST"], key_func=_form_key)
def sign_in() -> str | Response:
    """Sign in: one answer for an unknown address and a wrong password."""
    form = forms.SignInForm()
    next_url = safe_next(request.values.get("next"), url_for("selfservice.home"))
    if not form.validate_on_submit():
        return render_template("accounts/sign_in.html", form=form, next=next_url,
                               form_errors=forms.errors_of(form))
    db = database.session()
    account = ops.authenticate(db, form.email.data or "", form.password.data or "")
    if account is None:
        # One answer for an unknown address and a wrong password.
        form.email.errors = [_("Enter a correct email address and password")]
        return render_template("accounts/sign_in.html", form=form, next=next_url,
                               form_errors=forms.errors_of(form))
    if account.email_verified_at is None:
        _send_verification(account)
        return redirect(url_for("accounts.check_email"))
    if ops.apply_due_totp_reset(db, account, actor=sessions.actor()):
        _send(account.email, _("Your authenticator app was removed from your account"),
              "totp_removed", link=_config().public_url.rstrip("/")
              + url_for("accounts.two_factor"))
    sessions.sign_in(account, mfa=account.totp_enabled_at is None)

    audit.record(db, "account.sign_in", sessions.actor(), object_type="account",
                 object_id=str(account.id))
    response = redirect(next_url if account.totp_enabled_at is None
                        else url_for("accounts.second_factor", next=next_url))
    response.set_cookie("portal_lang", account.preferred_language, max_age=365 * 24 * 3600,
                        httponly=True, samesite="Lax",
                        secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


def _half_signed_in(next_url: str) -> Account | Response:
    """The account whose password was just proved and whose second factor is still due, or
    where to send the person instead."""
    account = sessions.current_account()
    if account is None:
        return redirect(url_for("accounts.sign_in"))
    if account.totp_enabled_at is None or session.get("mfa"):
        return redirect(next_url)
    return account


@bp.route("/second-factor", methods=["GET", "POST"])
@public
@limiter.limit("5/minute", methods=["POST"], key_func=_half_signed_in_key)
@limiter.limit("20/minute", methods=["POST"])
def second_factor() -> str | Response:
    """The code from the person's authenticator app, when they added one."""
    next_url = safe_next(request.values.get("next"), url_for("selfservice.home"))
    account = _half_signed_in(next_url)
    if not isinstance(account, Account):
        return account
    form = forms.CodeForm()
    if form.validate_on_submit():
        code = "".join((form.code.data or "").split())
        # A code is accepted once: one read over a shoulder or replayed does not work again.
        if ops.verify_second_factor(database.session(), account, code,
                                    actor=sessions.actor()):
            sessions.mark_mfa_done()
            return redirect(next_url)
        form.code.errors = [_("The code is not right. Check your app and try again")]
    return render_template("accounts/second_factor.html", form=form, next=next_url,
                           reset_due=ops.totp_reset_due_at(account),
                           form_errors=forms.errors_of(form))


@bp.route("/second-factor/recovery-code", methods=["GET", "POST"])
@public
@limiter.limit("5/minute", methods=["POST"], key_func=_half_signed_in_key)
@limiter.limit("20/minute", methods=["POST"])
def recovery_code() -> str | Response:
    """Sign in with one of the recovery codes instead of the app ("I cannot use my app")."""
    next_url = safe_next(request.values.get("next"), url_for("selfservice.home"))
    account = _half_signed_in(next_url)
    if not isinstance(account, Account):
        return account
    form = forms.RecoveryCodeForm()
    if form.validate_on_submit():
        if ops.use_recovery_code(database.session(), account, form.code.data or "",
                                 actor=sessions.actor()):
            sessions.mark_mfa_done()
            # Each code works once: the person is shown how many are left, and can get more.
            return redirect(url_for("accounts.two_factor", used="1"))
        form.code.errors = [_("The code is not right, or it was used before")]
    return render_template("accounts/recovery_code.html", form=form, next=next_url,
                           form_errors=forms.errors_of(form))


TOTP_RESET_SALT = "public-account-second-factor-reset"
TOTP_RESET_MAX_AGE = 3600


def totp_reset_token(account: Account) -> str:
    """A signed, expiring link token bound to the account, its factor and its password."""
    enabled = account.totp_enabled_at.isoformat() if account.totp_enabled_at else ""
    return _serializer(TOTP_RESET_SALT).dumps({"a": str(account.id), "t": enabled,
                                               "h": account.password_hash[-24:]})


def _totp_reset_account(token: str) -> Account | None:
    try:
        data = _serializer(TOTP_RESET_SALT).loads(token[:1000], max_age=TOTP_RESET_MAX_AGE)
        account = database.session().get(Account, uuid.UUID(str(data["a"])))
    except (BadData, KeyError, TypeError, ValueError):
        return None
    if account is None or account.disabled_at is not None or account.totp_enabled_at is None \
            or account.totp_enabled_at.isoformat() != data.get("t") \
            or account.password_hash[-24:] != data.get("h"):
        return None
    return account


@bp.route("/second-factor/lost", methods=["GET", "POST"])
@public
@limiter.limit("3/minute", methods=["POST"], key_func=_half_signed_in_key)
@limiter.limit("10/minute", methods=["POST"])
def lost_second_factor() -> str | Response:
    """Neither the app nor a recovery code: a link by email starts a wait, then it goes."""
    next_url = safe_next(request.values.get("next"), url_for("selfservice.home"))
    account = _half_signed_in(next_url)
    if not isinstance(account, Account):
        return account
    form = forms.ConfirmForm()
    if form.validate_on_submit():
        link = _config().public_url.rstrip("/") + url_for("accounts.confirm_lost_second_factor",
                                                          token=totp_reset_token(account))
        _send(account.email, _("Remove the authenticator app from your account"),
              "totp_reset", link=link, days=ops.TOTP_RESET_WAIT.days)

        audit.record(database.session(), "account.totp_reset_link_sent", sessions.actor(),
                     object_type="account", object_id=str(account.id))
        return redirect(url_for("accounts.check_email"))
    return render_template("accounts/lost_second_factor.html", form=form, next=next_url,
                           days=ops.TOTP_RESET_WAIT.days, reset_due=ops.totp_reset_due_at(account),
                           form_errors=forms.errors_of(form))


@bp.route("/second-factor/lost/<token>", methods=["GET", "POST"])
@public
@limiter.limit("10/minute")
def confirm_lost_second_factor(token: str) -> str | Response:
    """From the emailed link: confirm (by a button, never by opening the link) that the
    second factor should go once the wait is over; the address's owner is told when."""
    account = _totp_reset_account(token)
    if account is None:
        return render_template("accounts/link_expired.html"), 400  # type: ignore[return-value]
    form = forms.ConfirmForm()
    if not form.validate_on_submit():
        return render_template("accounts/confirm_lost_second_factor.html", form=form,
                               token=token, days=ops.TOTP_RESET_WAIT.days,
                               form_errors=forms.errors_of(form))
    due = ops.confirm_totp_reset(database.session(), account, actor=sessions.actor())
    _send(account.email, _("Your authenticator app will be removed from your account"),
          "totp_reset_pending", due=due, link=_config().public_url.rstrip("/")
          + url_for("accounts.sign_in"))
    return render_template("accounts/lost_second_factor_confirmed.html", due=due)


@bp.post("/sign-out")
@sessions.account_required
def sign_out() -> Response:
    """End this session and every other session of the account."""
    db = database.session()
    account = sessions.current_account()
    if account is not None:

        audit.record(db, "account.sign_out", sessions.actor(), object_type="account",
                     object_id=str(account.id))
    sessions.sign_out()
    return redirect(url_for("accounts.signed_out"))


@bp.get("/signed-out")
@public
def signed_out() -> str:
    """Confirm the person is signed out everywhere."""
    return render_template("accounts/signed_out.html")


@bp.route("/reset", methods=["GET", "POST"])
@public
@limiter.limit("10/minute", methods=["POST"])
@limiter.limit("3/minute", methods=["POST"], key_func=_form_key)
def reset() -> str | Response:
    """Ask for a reset link; the same answer whether or not there is an account."""
    form = forms.EmailForm()
    if not form.validate_on_submit():
        return render_template("accounts/reset.html", form=form,
                               form_errors=forms.errors_of(form))
    account = ops.account_by_email(database.session(), form.email.data or "")
    usable = account is not None and account.disabled_at is None
    # The message is built on every branch and sent only to an account: the same work for a
    # known and an unknown address.
    token = reset_token(account) if account is not None and usable else \
        _serializer(RESET_SALT).dumps({"a": "", "h": ""})
    link = _config().public_url.rstrip("/") + url_for("accounts.new_password", token=token)
    text = render_template("email/public/reset.txt", link=link)
    # Both answers write once to the database and send nothing themselves (the worker sends
    # the link), so how long the answer takes does not tell whether the address has an
    # account. The audit entry names no address.
    audit.record(database.session(), "account.reset_requested", sessions.actor())
    if account is not None and usable:
        mail.queue(mail.build(account.email, mail.neutral_subject(_config()), text),
                   by_worker=True)
    return redirect(url_for("accounts.check_email"))


def _reset_account(token: str) -> Account:
    try:
        data = _serializer(RESET_SALT).loads(token[:1000], max_age=RESET_MAX_AGE)
        account = database.session().get(Account, uuid.UUID(str(data["a"])))
    except (BadData, KeyError, TypeError, ValueError) as exc:
        raise HTTPNotFound() from exc
    if account is None or account.password_hash[-24:] != data.get("h") \
            or account.disabled_at is not None:
        raise HTTPNotFound()
    return account


@bp.route("/reset/<token>", methods=["GET", "POST"])
@public
@limiter.limit("10/minute")
def new_password(token: str) -> str | Response:
    """Choose a new password from a reset link; every session of the account ends."""
    try:
        account = _reset_account(token)
    except HTTPNotFound:
        return render_template("accounts/link_expired.html"), 400  # type: ignore[return-value]
    form = forms.NewPasswordForm()
    if not form.validate_on_submit():
        return render_template("accounts/new_password.html", form=form, token=token,
                               form_errors=forms.errors_of(form))
    db = database.session()
    notice = ops.set_password(db, account, form.password.data or "", actor=sessions.actor())
    subject = db.get(Subject, notice.subject_id) if notice is not None else None
    if notice is not None and subject is not None:
        mail.queue(claims.notice_email(notice, subject, _config()))
    session.clear()
    return redirect(url_for("accounts.password_changed"))


@bp.get("/password-changed")
@public
def password_changed() -> str:
    """Confirm the new password."""
    return render_template("accounts/password_changed.html")


@bp.route("/language", methods=["GET", "POST"])
@sessions.account_required
def language() -> str | Response:
    """Choose the language the service uses for this account."""
    account = sessions.current_account()
    assert account is not None  # noqa: S101 - account_required guarantees it
    form = forms.LanguageForm(language=account.preferred_language)
    if not form.validate_on_submit():
        return render_template("accounts/language.html", form=form,
                               form_errors=forms.errors_of(form))
    ops.set_language(database.session(), account, form.language.data or "",
                     _config().locales, actor=sessions.actor())
    response = redirect(url_for("selfservice.home"))
    response.set_cookie("portal_lang", account.preferred_language, max_age=365 * 24 * 3600,
                        httponly=True, samesite="Lax",
                        secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


def qr_svg(uri: str) -> str:
    """An inline SVG QR code (no external image, no script)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, title=_("QR code")))


@bp.route("/two-factor", methods=["GET", "POST"])
@sessions.account_required
@limiter.limit("5/minute", methods=["POST"], key_func=_account_key)
def two_factor() -> str | Response:
    """Add an authenticator app as a second factor (optional), or manage the one added."""
    account = sessions.current_account()
    assert account is not None  # noqa: S101 - account_required guarantees it
    db = database.session()
    if account.totp_enabled_at is not None:
        return _two_factor_on(account)
    secret = session.get("totp_setup") or pyotp.random_base32()
    session["totp_setup"] = secret
    uri = pyotp.TOTP(secret).provisioning_uri(name=account.email,
                                              issuer_name=_config().partnership_name)
    form = forms.CodeForm()
    if form.validate_on_submit():
        code = "".join((form.code.data or "").split())
        try:
            codes = ops.enable_totp(db, account, secret, code, actor=sessions.actor())
        except Conflict:
            return redirect(url_for("accounts.two_factor"))
        except Invalid:
            form.code.errors = [_("The code is not right. Check your app and try again")]
        else:
            session.pop("totp_setup", None)
            # The epoch rose, so start this session again with the factor done.
            sessions.sign_in(account, mfa=True)
            return render_template("accounts/recovery_codes.html", codes=codes,
                                   just_added=True)
    return render_template("accounts/two_factor.html", form=form, secret=secret,
                           qr=qr_svg(uri), form_errors=forms.errors_of(form))


def _two_factor_on(account: Account, form: forms.OwnerForm | None = None,
                   action: str = "") -> str:

    form = form or forms.OwnerForm()
    return render_template("accounts/two_factor_on.html", form=form, action=action,
                           left=factor.recovery_codes_left(database.session(), account),
                           used=request.args.get("used") == "1",
                           reset_due=ops.totp_reset_due_at(account),
                           form_errors=forms.errors_of(form))


def _owner_checked(account: Account, form: forms.OwnerForm, action: str,
                   change: Any) -> Any:
    """Run ``change`` if the password and code are right; else the page with its errors."""
    if not form.validate_on_submit():
        return _two_factor_on(account, form, action)
    try:
        return change()
    except Invalid as exc:
        if exc.field == "password":
            form.password.errors = [_("The password is not right")]
        else:
            form.code.errors = [_("The code is not right, or it was used before")]
        return _two_factor_on(account, form, action)


@bp.post("/two-factor/off")
@sessions.account_required
@limiter.limit("5/minute", key_func=_account_key)
def two_factor_off() -> str | Response:
    """Turn the second factor off (password and a code again); other sessions end."""
    account = sessions.current_account()
    assert account is not None  # noqa: S101 - account_required guarantees it
    form = forms.OwnerForm()

    def change() -> Response:
        ops.disable_totp(database.session(), account, form.password.data or "",
                         "".join((form.code.data or "").split()), actor=sessions.actor())
        sessions.sign_in(account, mfa=True)
        _send(account.email, _("Your authenticator app was removed from your account"),
              "totp_removed", link=_config().public_url.rstrip("/")
              + url_for("accounts.two_factor"))
        return redirect(url_for("accounts.two_factor", off="1"))

    result: str | Response = _owner_checked(account, form, "off", change)
    return result


@bp.post("/two-factor/recovery-codes")
@sessions.account_required
@limiter.limit("5/minute", key_func=_account_key)
def new_recovery_codes() -> str | Response:
    """Ten new recovery codes in place of the old ones (password and a code again)."""
    account = sessions.current_account()
    assert account is not None  # noqa: S101 - account_required guarantees it
    form = forms.OwnerForm()

    def change() -> str:
        codes = ops.regenerate_recovery_codes(database.session(), account,
                                              form.password.data or "",
                                              "".join((form.code.data or "").split()),
                                              actor=sessions.actor())
        return render_template("accounts/recovery_codes.html", codes=codes, just_added=False)

    result: str | Response = _owner_checked(account, form, "codes", change)
    return result


@bp.post("/two-factor/keep")
@sessions.account_required
def keep_two_factor() -> Response:
    """Stop a pending removal of the second factor."""
    account = sessions.current_account()
    assert account is not None  # noqa: S101 - account_required guarantees it
    ops.cancel_totp_reset(database.session(), account, actor=sessions.actor())
    return redirect(url_for("accounts.two_factor"))


def shared_routes() -> None:
    """What the public area adds to two shared routes, for signed-in accounts."""

    if request.endpoint not in {"public.exit_page", "ui.change_language"}:
        return

    account = sessions.current_account()
    if account is None:
        return
    if request.endpoint == "ui.change_language":
        # A language chosen in the header is remembered on the account too.
        code = (request.view_args or {}).get("code", "")
        locales = current_app.config["PORTAL"].locales
        if code in locales and code != account.preferred_language:

            operations.set_language(database.session(), account, code, locales,
                                    actor=sessions.actor())
        return
    # Exit this page must leave nothing usable behind: a copy of the cookie (another tab, a
    # synced browser) stops working too, not only the one this browser is about to drop.
    audit.record(database.session(), "account.exit", sessions.actor(),
                 object_type="account", object_id=str(account.id))
    sessions.sign_out()
