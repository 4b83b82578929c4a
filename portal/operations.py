"""Domain operations for agencies, people, holdings and API keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, bindparam, exists, or_, select, update
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.db import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.models import Agency, ApiClient, DataCategory, Holding, Subject

SCOPES = frozenset({"consent:check", "holdings:write", "sar:supply"})
KEY_PREFIX = "cpk_"
# Writing last_used_at on every call would turn every check into two writes.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def hash_key(key: str) -> str:
    """The stored form of an API key (keys are 256-bit random, so a fast hash is right)."""
    return hashlib.sha256(key.encode()).hexdigest()


def agency_by_slug(session: Session, slug: str) -> Agency:
    """The agency with this slug, or NotFound."""
    agency = session.scalar(select(Agency).where(Agency.slug == slug))
    if agency is None:
        raise NotFound(f"no agency {slug!r}", field="agency")
    return agency


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


def authenticate_key(session: Session, key: str) -> Authenticated | None:
    """The key's identity if it exists, is unexpired and unrevoked; otherwise None."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    c = ApiClient
    row = session.connection().execute(_KEY, {"key_hash": hash_key(key)}).first()
    now = utcnow()
    if row is None:
        return None
    client_id, agency_id, scopes, expires_at, revoked_at, last_used_at = row
    if revoked_at is not None or (expires_at is not None and expires_at <= now):
        return None
    if last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION:
        session.execute(update(c).where(c.id == client_id).values(last_used_at=now))
    return Authenticated(client_id, agency_id, frozenset(scopes.split()))


@dataclass(frozen=True, slots=True)
class NewSubject:
    """Minimal identity for a person an agency registers."""

    given_name: str
    family_name: str
    date_of_birth: dt.date | None = None
    email: str = ""
    phone: str = ""
    postal_address: str = ""
    safe_contact: str = ""
    preferred_language: str = "en"
    contact_channel: str = ""  # email | phone | post | none, as the person chose
    email_wording: str = "neutral"  # neutral | detailed | none


def _categories(session: Session, slugs: list[str]) -> list[DataCategory]:
    found = {c.slug: c for c in session.scalars(
        select(DataCategory).where(DataCategory.slug.in_(slugs)))}
    for i, slug in enumerate(slugs):
        if slug not in found:
            raise Invalid(f"categories[{i}]: no category {slug!r}", field=f"categories[{i}]")
    return [found[s] for s in dict.fromkeys(slugs)]


def register_subject(session: Session, new: NewSubject, *, agency_id: int | None,
                     actor: Actor) -> Subject:
    """Create a subject record (never matched automatically to an existing one)."""
    subject = Subject(given_name=new.given_name, family_name=new.family_name,
                      date_of_birth=new.date_of_birth, email=new.email, phone=new.phone,
                      postal_address=new.postal_address, safe_contact=new.safe_contact,
                      preferred_language=new.preferred_language,
                      contact_channel=new.contact_channel, email_wording=new.email_wording,
                      registered_by_agency_id=agency_id)
    session.add(subject)
    session.flush()
    audit.record(session, "subject.register", actor, subject_id=subject.id,
                 object_type="subject", object_id=str(subject.id))
    return subject


def linked(agency_id: int) -> ColumnElement[bool]:
    """The condition that a subject is linked to the agency: it holds current records on
    them under its own reference, or it registered them. Nothing else links an agency to a
    person (an identifier alone never does)."""
    held = exists().where(Holding.subject_id == Subject.id, Holding.agency_id == agency_id,
                          Holding.ended_at.is_(None))
    return or_(held, Subject.registered_by_agency_id == agency_id)


def is_linked(session: Session, agency_id: int, subject_id: uuid.UUID) -> bool:
    """True when the subject exists and is linked to the agency."""
    return session.scalar(select(Subject.id).where(Subject.id == subject_id,
                                                   linked(agency_id))) is not None


class UnknownSubject(Invalid):
    """A subject id that names nobody the agency is linked to (unknown or another's: the
    caller is told the same either way)."""

    # Not found, like any other name of nothing the caller can see (and the same for both).
    status = 404
    code = "unknown-subject"

    def __init__(self, subject_id: uuid.UUID, *, exists: bool) -> None:
        super().__init__("no subject with that subject_id", field="subject.subject_id")
        self.subject_id = subject_id
        self.exists = exists


def record_refused_holding(session: Session, agency_ref: str, refused: UnknownSubject, *,
                           actor: Actor) -> None:
    """Audit a holding refused for naming a subject the agency has no link to."""
    audit.record(session, "holding.refused", actor,
                 subject_id=refused.subject_id if refused.exists else None,
                 object_type="holding", object_id="",
                 details={"agency_ref": agency_ref, "subject_id": str(refused.subject_id),
                          "reason": "not-linked" if refused.exists else "unknown"})


def put_holding(session: Session, agency_id: int, agency_ref: str, *,
                categories: list[str], since: dt.date, actor: Actor,
                subject_id: uuid.UUID | None = None,
                new_subject: NewSubject | None = None,
                reviewed: bool = False) -> tuple[Holding, bool]:
    """Register or update what an agency holds about a subject; True when created.

    ``reviewed`` links a subject the agency has no link to yet: only for a match of the
    agency's reference to identity facts that staff reviewed, or a partnership admin's
    decision. The API never passes it.
    """
    cats = _categories(session, categories)
    holding = session.scalar(select(Holding).where(Holding.agency_id == agency_id,
                                                   Holding.agency_ref == agency_ref))
    created = holding is None
    if holding is not None:
        if subject_id is not None and subject_id != holding.subject_id:
            raise Conflict("this reference already belongs to another subject",
                           field="subject.subject_id")
        holding.categories = cats
        holding.since = since
        holding.ended_at = None
        holding.updated_at = utcnow()
    else:
        if subject_id is not None:
            # Knowing an id grants nothing: one the agency has no link to is answered as if
            # it named nobody, and nothing is made.
            if not reviewed and not is_linked(session, agency_id, subject_id):
                raise UnknownSubject(subject_id, exists=session.get(Subject, subject_id)
                                     is not None)
            target = subject_id
        elif new_subject is not None:
            target = register_subject(session, new_subject, agency_id=agency_id,
                                      actor=actor).id
        else:
            # Without a subject this is an update, and there is nothing under the reference.
            raise NotFound("no holding under this reference: send subject to register one",
                           field="subject")
        holding = Holding(agency_id=agency_id, subject_id=target, agency_ref=agency_ref,
                          since=since, categories=cats, updated_at=utcnow())
        session.add(holding)
    session.flush()
    audit.record(session, "holding.create" if created else "holding.update", actor,
                 subject_id=holding.subject_id, object_type="holding",
                 object_id=str(holding.id),
                 details={"agency_ref": agency_ref, "categories": [c.slug for c in cats],
                          "since": since.isoformat(), **({"reviewed": True} if reviewed else {})})
    return holding, created


def end_holding(session: Session, agency_id: int, agency_ref: str, *, actor: Actor) -> Holding:
    """Record that the agency no longer holds records under this reference."""
    holding = session.scalar(select(Holding).where(Holding.agency_id == agency_id,
                                                   Holding.agency_ref == agency_ref,
                                                   Holding.ended_at.is_(None)))
    if holding is None:
        raise NotFound("no current holding with that reference")
    holding.ended_at = utcnow()
    session.flush()
    audit.record(session, "holding.end", actor, subject_id=holding.subject_id,
                 object_type="holding", object_id=str(holding.id),
                 details={"agency_ref": agency_ref})
    return holding
