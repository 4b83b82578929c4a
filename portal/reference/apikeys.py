"""Agencies' API keys: made, shown once, hashed, scoped, revoked, and checked on every call.

This module is the one owner of how a presented key is judged (its shape and hash, expiry,
revocation; ``lookup_hash`` and ``verified``) and of when and how its last use is written
(``use_due``, ``mark_used_sql``, ``pg_mark_used_clause``): ``require_scope`` applies them to
a database read, the consent check (consent/check/) to the facts it caches per process.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import g, request
from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from portal import audit, database
from portal.audit import Actor
from portal.database import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.http import access, problem
from portal.reference.models import ApiClient
from portal.reference.operations import agency_by_slug

F = TypeVar("F", bound=Callable[..., Any])

SCOPES = frozenset({"consent:check", "holdings:write", "sar:supply"})


KEY_PREFIX = "cpk_"
# What a caller hears for any key that may not be used, whichever check refused it.
BAD_KEY = "the API key is unknown, expired or revoked"


# Writing last_used_at on every call would turn every check into two writes.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def hash_key(key: str) -> str:
    """The stored form of an API key (keys are 256-bit random, so a fast hash is right)."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, agency_slug: str, scopes: list[str], *, actor: Actor,
                   name: str = "", expires_at: dt.datetime | None = None) -> tuple[ApiClient, str]:
    """Create a key; the plain key is returned once and never stored."""
    agency = agency_by_slug(session, agency_slug)
    if not agency.active:
        # Retiring an agency revokes its keys; it must not be able to mint new ones.
        raise Conflict("a retired agency cannot have new API keys", field="agency")
    unknown = sorted(set(scopes) - SCOPES)
    if not scopes or unknown:
        raise Invalid(f"scopes must be among {sorted(SCOPES)}", field="scope")
    if expires_at is not None and expires_at <= utcnow():
        raise Invalid("the expiry must be in the future", field="expires_at")
    secret = secrets.token_urlsafe(32)
    key = f"{KEY_PREFIX}{secret}"
    client = ApiClient(agency_id=agency.id, name=name or f"{agency.slug} key",
                       key_prefix=key[:12], key_hash=hash_key(key),
                       scopes=" ".join(sorted(set(scopes))), expires_at=expires_at)
    session.add(client)
    session.flush()
    audit.record(session, "api_key.create", actor, object_type="api_client",
                 object_id=str(client.id),
                 details={"agency": agency.slug, "scopes": sorted(set(scopes)),
                          "prefix": client.key_prefix})
    return client, key


def revoke_api_key(session: Session, client_id: int, *, actor: Actor) -> ApiClient:
    """Revoke a key; the next request with it is refused."""
    client = session.get(ApiClient, client_id)
    if client is None:
        raise NotFound("no such API key")
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        audit.record(session, "api_key.revoke", actor, object_type="api_client",
                     object_id=str(client.id))
        session.flush()
    return client


_KEY = select(ApiClient.id, ApiClient.agency_id, ApiClient.scopes, ApiClient.expires_at,
              ApiClient.revoked_at, ApiClient.last_used_at
              ).where(ApiClient.key_hash == bindparam("key_hash"))


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A live key's identity."""

    client_id: int
    agency_id: int
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class KeyFact:
    """What is stored of a key that decides whether it may be used (a cache may keep it)."""

    client_id: int
    agency_id: int
    scopes: frozenset[str]
    expires_at: dt.datetime | None
    revoked: bool

    def live(self, now: dt.datetime) -> bool:
        """Unrevoked and unexpired at ``now``."""
        return not self.revoked and (self.expires_at is None or self.expires_at > now)


def key_fact(client_id: int, agency_id: int, scopes: str, expires_at: dt.datetime | None,
             revoked_at: dt.datetime | None) -> KeyFact:
    """A stored key's columns as a KeyFact."""
    return KeyFact(client_id, agency_id, frozenset(scopes.split()), expires_at,
                   revoked_at is not None)


def lookup_hash(key: str) -> str | None:
    """The stored hash to find a presented key by, or None if it cannot be one of ours."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    return hash_key(key)


def verified(fact: KeyFact | None, now: dt.datetime) -> Authenticated | None:
    """The key's identity if it is known and live at ``now``: the one rule, whether its
    facts came from the database just now or from the check's cache."""
    if fact is None or not fact.live(now):
        return None
    return Authenticated(fact.client_id, fact.agency_id, fact.scopes)


def use_due(last_used_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a use at ``now`` is to be written as the key's last use."""
    return last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION


def mark_used_sql(mark: str, count: int) -> str:
    """One UPDATE marking ``count`` keys as used, for writers going through the driver (the
    check's group commit); its parameters are the time, then each key's id."""
    marks = ", ".join([mark] * count)
    # Only placeholders are interpolated.
    return (f"UPDATE api_clients SET last_used_at = {mark} "  # noqa: S608
            f"WHERE id IN ({marks})")


def pg_mark_used_clause(dialect: Dialect) -> str:
    """Marking one key as used, as a data-modifying WITH clause of a PostgreSQL statement
    that does other work (it runs whether or not it is referenced); its parameters are the
    time and the key's id."""
    used = audit.pg_cast_type(ApiClient.__table__, "last_used_at", dialect)
    return (f"t AS (UPDATE api_clients SET last_used_at = %s::{used} "  # noqa: S608
            "WHERE id = %s), ")


def authenticate_key(session: Session, key: str) -> Authenticated | None:
    """The key's identity if it exists, is unexpired and unrevoked; otherwise None."""
    digest = lookup_hash(key)
    if digest is None:
        return None
    c = ApiClient
    row = session.connection().execute(_KEY, {"key_hash": digest}).first()
    now = utcnow()
    if row is None:
        return None
    client_id, agency_id, scopes, expires_at, revoked_at, last_used_at = row
    auth = verified(key_fact(client_id, agency_id, scopes, expires_at, revoked_at), now)
    if auth is None:
        return None
    if use_due(last_used_at, now):
        session.execute(update(c).where(c.id == client_id).values(last_used_at=now))
    return auth


def caller() -> Authenticated:
    """The authenticated key of this request (set by ``require_scope``)."""
    auth: Authenticated = g.api_key
    return auth


def caller_actor() -> Actor:
    """The audit actor for the calling key."""
    auth = caller()
    return Actor("api_client", str(auth.client_id), auth.agency_id)


def require_scope(scope: str, *, authenticate: Callable[[str], Authenticated | None]
                  | None = None) -> Callable[[F], F]:
    """Authenticate the Bearer key and require a scope (401 or 403 otherwise).

    ``authenticate`` replaces the database lookup (the check path uses its cache).
    """

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, key = header.partition(" ")
            challenge = {"WWW-Authenticate": 'Bearer realm="consent-portal"'}
            if scheme.lower() != "bearer" or not key.strip():
                return problem(401, "send an API key as 'Authorization: Bearer <key>'",
                               code="missing-key", headers=challenge)
            auth = authenticate(key.strip()) if authenticate is not None else \
                authenticate_key(database.session(), key.strip())
            if auth is None:
                return problem(401, BAD_KEY,
                               code="bad-key", headers=challenge)
            if scope not in auth.scopes:
                return problem(403, f"this key lacks the {scope} scope", code="missing-scope")
            g.api_key = auth
            return view(*args, **kwargs)

        return access(f"api:{scope}")(cast(F, wrapper))

    return decorator
