"""The append-only, hash-chained audit log."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import AuditEntry

GENESIS = "0" * 64
# Any constant works: it names the one advisory lock that serialises appends on PostgreSQL.
_PG_CHAIN_LOCK = 0x636F6E73656E74


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: an API client, a staff member, a public account or the system."""

    type: str
    id: str
    agency_id: int | None = None


SYSTEM = Actor("system", "system")


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An audit entry before it is placed on the chain."""

    action: str
    actor: Actor
    subject_id: uuid.UUID | None = None
    object_type: str = ""
    object_id: str = ""
    details: Mapping[str, Any] | None = None
    at: dt.datetime | None = None


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same bytes for the same value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: str, seq: int, at: dt.datetime, actor_type: str, actor_id: str,
               agency_id: int | None, action: str, subject_id: uuid.UUID | None,
               object_type: str, object_id: str, details: str) -> str:
    """The SHA-256 that links an entry to the one before it."""
    body = canonical_json([seq, _stamp(at), actor_type, actor_id, agency_id, action,
                           str(subject_id) if subject_id else None, object_type, object_id,
                           details])
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def _lock_chain(session: Session) -> tuple[int, str]:
    """Serialise appends and return the current head (seq, hash)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_CHAIN_LOCK})
    # On SQLite every transaction began with BEGIN IMMEDIATE, which already serialises writers.
    row = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else (0, GENESIS)


def record_many(session: Session, entries: Sequence[NewEntry]) -> list[int]:
    """Append entries to the chain in order and return their sequence numbers (flushes)."""
    if not entries:
        return []
    session.flush()
    seq, prev = _lock_chain(session)
    rows: list[dict[str, Any]] = []
    seqs: list[int] = []
    now = utcnow()
    for entry in entries:
        seq += 1
        at = entry.at or now
        details = canonical_json(dict(entry.details or {}))
        digest = entry_hash(prev, seq, at, entry.actor.type, entry.actor.id,
                            entry.actor.agency_id, entry.action, entry.subject_id,
                            entry.object_type, entry.object_id, details)
        rows.append({
            "seq": seq, "at": at, "actor_type": entry.actor.type, "actor_id": entry.actor.id,
            "agency_id": entry.actor.agency_id, "action": entry.action,
            "subject_id": entry.subject_id, "object_type": entry.object_type,
            "object_id": entry.object_id, "details": details, "prev_hash": prev,
            "hash": digest,
        })
        seqs.append(seq)
        prev = digest
    session.execute(insert(AuditEntry), rows)
    return seqs


def record(session: Session, action: str, actor: Actor, *, subject_id: uuid.UUID | None = None,
           object_type: str = "", object_id: str = "",
           details: Mapping[str, Any] | None = None) -> int:
    """Append one entry and return its sequence number."""
    return record_many(session, [NewEntry(action, actor, subject_id, object_type, object_id,
                                          details)])[0]


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of walking the chain."""

    ok: bool
    count: int
    head_seq: int
    head_hash: str
    bad_seq: int | None = None
    problem: str = ""


def _walk(session: Session) -> Iterator[Any]:
    # Plain rows, never identity-mapped objects: verification must see what is stored now.
    e = AuditEntry
    stmt = (select(e.seq, e.at, e.actor_type, e.actor_id, e.agency_id, e.action, e.subject_id,
                   e.object_type, e.object_id, e.details, e.prev_hash, e.hash)
            .order_by(e.seq).execution_options(yield_per=2000))
    yield from session.execute(stmt)


def verify(session: Session) -> VerifyResult:
    """Recompute every link; report the first entry that was edited, removed or moved."""
    expected_seq = 1
    prev = GENESIS
    count = 0
    for e in _walk(session):
        if e.seq != expected_seq:
            return VerifyResult(False, count, expected_seq - 1, prev, expected_seq,
                                f"entry {expected_seq} is missing (next is {e.seq})")
        if e.prev_hash != prev:
            return VerifyResult(False, count, e.seq - 1, prev, e.seq,
                                f"entry {e.seq} does not link to entry {e.seq - 1}")
        digest = entry_hash(prev, e.seq, e.at, e.actor_type, e.actor_id, e.agency_id, e.action,
                            e.subject_id, e.object_type, e.object_id, e.details)
        if digest != e.hash:
            return VerifyResult(False, count, e.seq - 1, prev, e.seq,
                                f"entry {e.seq} was altered (its hash does not match)")
        prev = e.hash
        expected_seq += 1
        count += 1
    return VerifyResult(True, count, expected_seq - 1, prev)


def head(session: Session) -> tuple[int, str]:
    """The latest entry's sequence number and hash, for anchoring elsewhere."""
    row = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else (0, GENESIS)
