"""Who is signed in: principals, session epochs, timeouts and access decorators.

A session cookie names a principal and the epoch it was issued under. Sign-out, a password
change or reset, or disabling the account raises the epoch in the database, so every older
cookie (a replayed one included) stops working at once. There are no remember-me tokens.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from portal import database
from portal.audit import Actor
from portal.database import utcnow
from portal.extensions import login_manager
from portal.http import access
from portal.identity.models import Account, StaffUser

F = TypeVar("F", bound=Callable[..., Any])

PUBLIC_IDLE = dt.timedelta(minutes=30)
PUBLIC_ABSOLUTE = dt.timedelta(hours=12)
STAFF_IDLE = dt.timedelta(minutes=15)
STAFF_ABSOLUTE = dt.timedelta(hours=10)


@dataclass(frozen=True)
class Principal:
    """A signed-in account or staff member, as Flask-Login sees them."""

    kind: str  # "account" | "staff"
    id: str
    epoch: int

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        """Flask-Login's session id: kind, id and epoch."""
        return f"{self.kind}:{self.id}:{self.epoch}"


def _load(user_id: str) -> Principal | None:
    kind, _, rest = user_id.partition(":")
    ident, _, epoch_text = rest.rpartition(":")
    try:
        epoch = int(epoch_text)
    except ValueError:
        return None
    db = database.session()
    if kind == "account":
        try:
            account = db.get(Account, uuid.UUID(ident))
        except ValueError:
            return None
        if account is None or account.disabled_at or account.session_epoch != epoch:
            return None
        g.preferred_language = account.preferred_language
        return Principal("account", ident, epoch)
    if kind == "staff":
        try:
            staff = db.get(StaffUser, int(ident))
        except ValueError:
            return None
        if staff is None or staff.disabled_at or staff.session_epoch != epoch:
            return None
        return Principal("staff", ident, epoch)
    return None


def sign_in(principal: Account | StaffUser, *, mfa: bool) -> None:
    """Start a new session for this account or staff member."""
    session.clear()
    kind = "account" if isinstance(principal, Account) else "staff"
    login_user(Principal(kind, str(principal.id), principal.session_epoch))
    now = utcnow().timestamp()
    session["auth_at"] = now
    session["seen_at"] = now
    session["mfa"] = mfa


def mark_mfa_done() -> None:
    """Record that the second factor was checked in this session."""
    session["mfa"] = True


def end_all_sessions(principal: Account | StaffUser) -> None:
    """Invalidate every session of this principal (flushes; the caller commits)."""
    principal.session_epoch += 1
    database.session().flush()


def sign_out() -> None:
    """End this session and every other one of the same principal."""
    principal = current_principal()
    if principal is not None:
        end_all_sessions(principal)
    logout_user()
    session.clear()


def current_principal() -> Account | StaffUser | None:
    """The signed-in account or staff member's record, if any."""
    if not current_user.is_authenticated:
        return None
    p = cast(Principal, current_user._get_current_object())
    db = database.session()
    if p.kind == "account":
        return db.get(Account, uuid.UUID(p.id))
    return db.get(StaffUser, int(p.id))


def current_account() -> Account | None:
    """The signed-in public account, if that is who is signed in."""
    principal = current_principal()
    return principal if isinstance(principal, Account) else None


def current_staff() -> StaffUser | None:
    """The signed-in staff member (with their second factor done), if any."""
    principal = current_principal()
    if isinstance(principal, StaffUser) and session.get("mfa"):
        return principal
    return None


def actor() -> Actor:
    """The audit actor for whoever is signed in (or the anonymous public)."""
    principal = current_principal()
    if isinstance(principal, StaffUser):
        return Actor("staff", str(principal.id), principal.agency_id)
    if isinstance(principal, Account):
        return Actor("account", str(principal.id))
    return Actor("public", request.remote_addr or "unknown")


def _enforce_timeouts() -> None:
    if request.path.startswith("/api/"):
        return  # the API authenticates by key alone and never opens the session cookie
    if not current_user.is_authenticated:
        return
    p = cast(Principal, current_user._get_current_object())
    idle, absolute = (STAFF_IDLE, STAFF_ABSOLUTE) if p.kind == "staff" else (PUBLIC_IDLE,
                                                                              PUBLIC_ABSOLUTE)
    now = utcnow().timestamp()
    auth_at = float(session.get("auth_at", 0))
    seen_at = float(session.get("seen_at", 0))
    if now - seen_at > idle.total_seconds() or now - auth_at > absolute.total_seconds():
        logout_user()
        session.clear()
        session["timed_out"] = True
        return
    session["seen_at"] = now


def account_required(view: F) -> F:
    """Only a signed-in public account (with its second factor, if it has one)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        account = current_account()
        if account is None:
            return redirect(url_for("accounts.sign_in", next=request.full_path.rstrip("?"))
                            if "accounts.sign_in" in _endpoints() else "/")
        if account.totp_enabled_at is not None and not session.get("mfa"):
            return redirect(url_for("accounts.second_factor")
                            if "accounts.second_factor" in _endpoints() else "/")
        return view(*args, **kwargs)

    return access("account")(cast(F, wrapper))


def staff_required(*roles: str) -> Callable[[F], F]:
    """Only staff who passed their second factor and hold one of these roles (any if none)."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if not isinstance(principal, StaffUser):
                return redirect(url_for("staff_auth.sign_in",
                                        next=request.full_path.rstrip("?"))
                                if "staff_auth.sign_in" in _endpoints() else "/")
            if not session.get("mfa"):
                return redirect(url_for("staff_auth.second_factor")
                                if "staff_auth.second_factor" in _endpoints() else "/")
            if roles and not principal.role_set & set(roles):
                abort(403)
            return view(*args, **kwargs)

        return access("staff:" + ",".join(roles or ("any",)))(cast(F, wrapper))

    return decorator


def _endpoints() -> Any:
    return current_app.view_functions


def init_app(app: Flask) -> None:
    """Wire Flask-Login and the session timeouts."""
    login_manager.init_app(app)
    login_manager.user_loader(_load)
    app.before_request(_enforce_timeouts)
