"""The append-only, hash-chained audit log.

The log is a small, fixed set of independent hash chains. Each entry links to the previous
entry of its own chain, so editing, deleting or reordering any entry breaks that chain and
``verify`` names it. Several chains let concurrent requests append (and commit) in parallel
instead of queueing behind one lock held through every commit's fsync; a chain is picked by
whichever lock is free. SQLite has one writer at a time anyway and uses one chain.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import random
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from portal.database import Base, utcnow

# The audit action of a staff member opening a person's record.
STAFF_VIEW_ACTION = "subject.view"

_STAFF_VIEWS_ONLY = f"action = '{STAFF_VIEW_ACTION}'"

class AuditEntry(Base):
    """One security-relevant act, hash-chained to the entry before it on its chain.

    Append-only: the database refuses UPDATE and DELETE on this table.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        # The log is read by person for one thing only, the staff views the person sees; an
        # index of every entry's person took a random key from every consent check
        # (migration 0013).
        Index("ix_audit_entries_subject_view", "subject_id", "id",
              sqlite_where=text(_STAFF_VIEWS_ONLY), postgresql_where=text(_STAFF_VIEWS_ONLY)),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    chain: Mapped[int] = mapped_column(SmallInteger)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    at: Mapped[dt.datetime] = mapped_column()
    actor_type: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str] = mapped_column(String(64))
    agency_id: Mapped[int | None] = mapped_column(Integer, default=None)
    action: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    object_type: Mapped[str] = mapped_column(String(64), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON, hashed as stored
    prev_hash: Mapped[str] = mapped_column(String(64))
    # Not unique in the database: (chain, seq) is, and the hash covers both (migration 0011).
    hash: Mapped[str] = mapped_column(String(64))



GENESIS = "0" * 64
# Advisory lock keys on PostgreSQL: one per chain, from this base (any constant works).
PG_LOCK_BASE = 0x636F6E73656E74
# How many chains PostgreSQL appends spread over (a session may override via info).
PG_CHAINS = 8
SESSION_CHAINS_KEY = "audit_chains"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: an API client, a staff member, a public account or the system."""

    type: str
    id: str
    agency_id: int | None = None


SYSTEM = Actor("system", "system")


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An audit entry before it is placed on a chain."""

    action: str
    actor: Actor
    subject_id: uuid.UUID | None = None
    object_type: str = ""
    object_id: str = ""
    details: Mapping[str, Any] | None = None
    at: dt.datetime | None = None


# The reference encoding. Chains and digests written before orjson was used were hashed over
# its bytes, so the fast encoder below must give the same bytes wherever it answers
# (tests/portal/test_canonical_json.py proves it for what hashed bodies hold).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              default=str)
# orjson's own forms of times and dataclasses differ from str(): hand them to the fallback.
_ORJSON_CANONICAL = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                     | orjson.OPT_PASSTHROUGH_DATACLASS)


def _as_reference(value: Any) -> Any:
    # json writes a tuple subclass (a named tuple) as an array and str() of anything else.
    return list(value) if isinstance(value, tuple) else str(value)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same bytes for the same value."""
    # orjson takes a tenth of the time (a batch check writes a thousand entries). It refuses
    # what json accepts (integers beyond 64 bits, keys that are not text, deep nesting), and
    # then the reference encoder answers. It writes some floats its own way (0.00001, not
    # 1e-05; null for NaN): no hashed body holds a float, and an entry's details are hashed
    # as the text stored, so only the form of a float in new details changes.
    try:
        return orjson.dumps(value, default=_as_reference, option=_ORJSON_CANONICAL).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _CANONICAL.encode(value)


@functools.lru_cache(maxsize=64)  # a batch's entries share their time
def stamp(at: dt.datetime) -> str:
    """An aware time as hashed: UTC, to the microsecond."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_tail(at: dt.datetime, actor_type: str, actor_id: str, agency_id: int | None,
               action: str, subject_id: uuid.UUID | None, object_type: str, object_id: str,
               details: str) -> str:
    """The hashed body of an entry after its chain and sequence number."""
    # canonical_json of the whole list is "[chain,seq," followed by this, so the database can
    # finish the body once it knows the chain and the next sequence number (PG_LINK_HASH).
    return canonical_json([stamp(at), actor_type, actor_id, agency_id, action,
                           str(subject_id) if subject_id else None, object_type, object_id,
                           details])[1:]


def link_hash(prev_hash: str, chain: int, seq: int, tail: str) -> str:
    """The SHA-256 that links an entry to the one before it on its chain."""
    return hashlib.sha256(f"{prev_hash}[{chain},{seq},{tail}".encode()).hexdigest()


# link_hash in SQL, for appends whose chain head is only known inside the statement; fill
# with SQL expressions. An integer's text form in PostgreSQL is its JSON form.
PG_LINK_HASH = ("encode(sha256(convert_to({prev} || '[' || {chain}::text || ',' || "
                "{seq}::text || ',' || {tail}, 'UTF8')), 'hex')")


def entry_hash(prev_hash: str, chain: int, seq: int, at: dt.datetime, actor_type: str,
               actor_id: str, agency_id: int | None, action: str,
               subject_id: uuid.UUID | None, object_type: str, object_id: str,
               details: str) -> str:
    """The SHA-256 that links an entry to the one before it on its chain."""
    return link_hash(prev_hash, chain, seq, entry_tail(
        at, actor_type, actor_id, agency_id, action, subject_id, object_type, object_id,
        details))


def chain_count(session: Session) -> int:
    """How many chains appends from this session may use."""
    if session.get_bind().dialect.name != "postgresql":
        return 1
    return int(session.info.get(SESSION_CHAINS_KEY, PG_CHAINS))


def _lock_chain(session: Session) -> tuple[int, int, str]:
    """Take one chain's append lock (a free one if any) and return (chain, seq, hash)."""
    if session.get_bind().dialect.name == "postgresql":
        # One round trip: a free chain if any, else wait for the first choice, then its head
        # read after the lock is held (migration 0009; the check service calls it too).
        chains = chain_count(session)
        start = random.randrange(chains)  # noqa: S311 - spreading load, not security
        chain, seq, digest = session.connection().execute(_CLAIM, {
            "first": start, "chains": chains, "base": PG_LOCK_BASE}).one()
        if seq is None:
            return int(chain), 0, GENESIS
        return int(chain), int(seq), str(digest)
    # On SQLite every transaction began with BEGIN IMMEDIATE, which already serialises writers.
    row = session.connection().execute(_HEAD).first()
    return (0, row[0], row[1]) if row else (0, 0, GENESIS)


# Built once: appends are on every request's path.
_CLAIM = text("SELECT * FROM portal_claim_audit_chain(:first, :chains, :base)")
_HEAD = (select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.chain == 0)  # SQLite's one
         .order_by(AuditEntry.seq.desc()).limit(1))
_INSERT = insert(AuditEntry).returning(AuditEntry.id, sort_by_parameter_order=True)


def entry_rows(entries: Sequence[NewEntry]) -> list[dict[str, Any]]:
    """The entries' stored values but for their place on a chain, each with its ``tail``."""
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for entry in entries:
        at = entry.at or now
        details = canonical_json(dict(entry.details or {}))
        rows.append({
            "at": at, "actor_type": entry.actor.type, "actor_id": entry.actor.id,
            "agency_id": entry.actor.agency_id, "action": entry.action,
            "subject_id": entry.subject_id, "object_type": entry.object_type,
            "object_id": entry.object_id, "details": details,
            "tail": entry_tail(at, entry.actor.type, entry.actor.id, entry.actor.agency_id,
                               entry.action, entry.subject_id, entry.object_type,
                               entry.object_id, details),
        })
    return rows


def links(chain: int, seq: int, prev: str, tails: Sequence[str]) -> list[tuple[int, str, str]]:
    """(seq, prev_hash, hash) of each tail appended in order after (seq, prev) on a chain."""
    out: list[tuple[int, str, str]] = []
    for tail in tails:
        seq += 1
        digest = link_hash(prev, chain, seq, tail)
        out.append((seq, prev, digest))
        prev = digest
    return out


def chain_rows(chain: int, seq: int, prev: str, entries: Sequence[NewEntry]
               ) -> list[dict[str, Any]]:
    """The rows that append these entries after (seq, prev) on a chain, hashes computed."""
    rows = entry_rows(entries)
    tails = [row.pop("tail") for row in rows]
    for row, (n, before, digest) in zip(rows, links(chain, seq, prev, tails), strict=True):
        row.update(chain=chain, seq=n, prev_hash=before, hash=digest)
    return rows


def record_many(session: Session, entries: Sequence[NewEntry]) -> list[int]:
    """Append entries, in order, to one chain and return their ids (flushes)."""
    if not entries:
        return []
    session.flush()
    chain, seq, prev = _lock_chain(session)
    rows = chain_rows(chain, seq, prev, entries)
    return list(session.connection().execute(_INSERT, rows).scalars())


def record(session: Session, action: str, actor: Actor, *, subject_id: uuid.UUID | None = None,
           object_type: str = "", object_id: str = "",
           details: Mapping[str, Any] | None = None) -> int:
    """Append one entry and return its id."""
    return record_many(session, [NewEntry(action, actor, subject_id, object_type, object_id,
                                          details)])[0]


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of walking every chain."""

    ok: bool
    count: int
    heads: dict[int, tuple[int, str]] = field(default_factory=dict)
    bad_chain: int | None = None
    bad_seq: int | None = None
    problem: str = ""


def _walk(session: Session) -> Iterator[Any]:
    # Plain rows, never identity-mapped objects: verification must see what is stored now.
    e = AuditEntry
    stmt = (select(e.chain, e.seq, e.at, e.actor_type, e.actor_id, e.agency_id, e.action,
                   e.subject_id, e.object_type, e.object_id, e.details, e.prev_hash, e.hash)
            .order_by(e.chain, e.seq).execution_options(yield_per=2000))
    yield from session.execute(stmt)


def verify(session: Session) -> VerifyResult:
    """Recompute every link; report the first entry that was edited, removed or moved."""
    heads: dict[int, tuple[int, str]] = {}
    count = 0
    for e in _walk(session):
        expected_seq, prev = heads.get(e.chain, (0, GENESIS))
        expected_seq += 1
        problem = ""
        if e.seq != expected_seq:
            problem = f"chain {e.chain} entry {expected_seq} is missing (next is {e.seq})"
        elif e.prev_hash != prev:
            problem = f"chain {e.chain} entry {e.seq} does not link to the entry before it"
        elif entry_hash(prev, e.chain, e.seq, e.at, e.actor_type, e.actor_id, e.agency_id,
                        e.action, e.subject_id, e.object_type, e.object_id,
                        e.details) != e.hash:
            problem = f"chain {e.chain} entry {e.seq} was altered (its hash does not match)"
        if problem:
            return VerifyResult(False, count, heads, e.chain, expected_seq, problem)
        heads[e.chain] = (e.seq, e.hash)
        count += 1
    return VerifyResult(True, count, heads)


def head(session: Session) -> dict[int, tuple[int, str]]:
    """Each chain's latest entry (sequence number and hash), for anchoring elsewhere."""
    e = AuditEntry
    latest = (select(e.chain, func.max(e.seq).label("seq")).group_by(e.chain).subquery())
    rows = session.execute(select(e.chain, e.seq, e.hash).join(
        latest, (latest.c.chain == e.chain) & (latest.c.seq == e.seq)).order_by(e.chain))
    return {chain: (seq, digest) for chain, seq, digest in rows}


@dataclass(frozen=True, slots=True)
class RecordsVerified:
    """The outcome of comparing every record of one kind with its audit entry."""

    ok: bool
    count: int
    problem: str = ""
