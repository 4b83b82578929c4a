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
import operator
import random
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    DateTime,
    FromClause,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.types import TypeEngine

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
        # read after the lock is held (migration 0009; Appender claims the same way).
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


# --- The appender: one interface for every way entries join a chain --------------------------
#
# ``record``/``record_many`` append through a session, inside the caller's transaction. An
# ``Appender`` appends a group through the driver (no ORM: its fixed cost per transaction was
# most of the cost of a small group), each entry with one row of another table linked to it
# (the consent check's decisions), by one of a few strategies per dialect. Every path hashes
# through ``link_hash`` (or its SQL twin ``PG_LINK_HASH`` where the chain's head is only known
# inside the statement), so every path stores the same rows for the same entries
# (tests/portal/test_audit_appender.py).

# PostgreSQL's strategies: one entry in one autocommit statement, its hash computed in the
# database; a group from column arrays in one statement; a large group by binary COPY.
STATEMENT, ARRAYS, COPY = "statement", "arrays", "copy"
# SQLite's: one entry by INSERT ... RETURNING; a group by executemany.
ROW, ROWS = "row", "rows"
STRATEGIES = {"postgresql": (STATEMENT, ARRAYS, COPY), "sqlite": (ROW, ROWS)}
# PostgreSQL: a group of at least this many entries goes in by binary COPY (the driver
# encodes its rows in C, the server inserts them in bulk); a smaller group costs less as one
# statement over column arrays. The two cost about the same near 64 rows.
PG_COPY_MIN_ROWS = 64

_AUDIT_COLUMNS = ("chain", "seq", "at", "actor_type", "actor_id", "agency_id", "action",
                  "subject_id", "object_type", "object_id", "details", "prev_hash", "hash")
# An entry's own values, between its place on a chain (chain, seq) and its hashes.
_AUDIT_OWN = _AUDIT_COLUMNS[2:-2]


@dataclass(frozen=True)
class Linked:
    """The table an appender writes with its entries, one row per entry; the last of
    ``columns`` holds the entry's id."""

    table: Table
    columns: tuple[str, ...]

    @property
    def link(self) -> str:
        """The column naming the entry."""
        return self.columns[-1]


def pg_cast_type(table: FromClause, column: str, dialect: Dialect) -> str:
    """The column's PostgreSQL type for a cast, from the model (strings as ``text``:
    a cast to ``varchar(n)`` would silently cut a value the column itself would refuse)."""
    type_ = table.c[column].type
    return "text" if isinstance(type_, String) else type_.compile(dialect=dialect)


def _pg_insert_both(dialect: Dialect, linked: Linked) -> str:
    """Audit entries and their linked rows in one statement; a linked row's link parameter
    carries its entry's sequence number, swapped for the entry's id by the join."""
    audits, table, link = AuditEntry.__table__, linked.table, linked.link
    # Arrays in the binary format (%b): the text format escapes every element with a
    # regular expression, which was most of the driver's share of a large batch.
    unnest_audit = ", ".join(f"%b::{pg_cast_type(audits, c, dialect)}[]"
                             for c in _AUDIT_COLUMNS[1:])
    unnest_linked = ", ".join(f"%b::{pg_cast_type(table, c, dialect)}[]"
                              for c in linked.columns)
    aliases = ", ".join(f"d_{c}" for c in linked.columns)
    chosen = ", ".join(f"d.d_{c}" if c != link else "a.id" for c in linked.columns)
    chain_type = pg_cast_type(audits, "chain", dialect)
    # Constant names and the driver's placeholders only.
    return (
        f"WITH given AS (SELECT %s::{chain_type} AS chain), "  # noqa: S608
        f"a AS (INSERT INTO audit_entries ({', '.join(_AUDIT_COLUMNS)}) "
        f"SELECT given.chain, u.* FROM given, unnest({unnest_audit}) AS u "
        "RETURNING id, seq) "
        f"INSERT INTO {table.name} ({', '.join(linked.columns)}) "
        f"SELECT {chosen} FROM unnest({unnest_linked}) AS d({aliases}) "
        # A LEFT JOIN: a row without its entry would get a NULL link, which the column
        # refuses, so the statement fails and nothing is committed.
        f"LEFT JOIN a ON a.seq = d.d_{link}")


def _pg_copy(table: FromClause, name: str, columns: Sequence[str], dialect: Dialect
             ) -> tuple[str, list[str]]:
    """A binary COPY into the table's columns, and the type of each for the driver."""
    # Constant names only.
    statement = f"COPY {name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    return statement, [pg_cast_type(table, c, dialect).lower() for c in columns]


def _pg_append_one(dialect: Dialect, linked: Linked, also: str) -> str:
    """A group of one as one autocommit statement: claim a chain and read its head
    (migration 0009), append the entry with its hash computed in the database, insert the
    row linked to it, and run ``also`` (a data-modifying WITH clause, its parameters first).
    Plain parameters, which the driver converts in C; one round trip for the whole write."""
    audits, table = AuditEntry.__table__, linked.table
    values = ", ".join(f"%s::{pg_cast_type(audits, c, dialect)}" for c in _AUDIT_OWN)
    digest = PG_LINK_HASH.format(prev="c.prev", chain="c.chain", seq="c.seq", tail="%s::text")
    # The link is the last column: the new entry's id, not a parameter.
    chosen = ", ".join([*(f"%s::{pg_cast_type(table, c, dialect)}"
                          for c in linked.columns[:-1]), "a.id"])
    # Constant names and the driver's placeholders only.
    return (
        f"WITH {also}c AS (SELECT claimed_chain AS chain, "  # noqa: S608
        "coalesce(head_seq, 0) + 1 AS seq, coalesce(head_hash, %s) AS prev "
        "FROM portal_claim_audit_chain(%s, %s, %s)), "
        f"a AS (INSERT INTO audit_entries ({', '.join(_AUDIT_COLUMNS)}) "
        f"SELECT c.chain, c.seq, {values}, c.prev, {digest} FROM c RETURNING id) "
        f"INSERT INTO {table.name} ({', '.join(linked.columns)}) "
        f"SELECT {chosen} FROM a")


def _hex(value: uuid.UUID) -> str:
    return value.hex


def _by_column(rows: list[list[Any]], width: int) -> list[list[Any]]:
    """Row lists turned into column lists (PostgreSQL's arrays)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


def _insert(table: str, columns: Sequence[str], mark: str) -> str:
    names, marks = ", ".join(columns), ", ".join([mark] * len(columns))
    return f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - constants only


def _typed(table: FromClause, kind: type[TypeEngine[Any]]) -> frozenset[str]:
    """The table's columns of this type (seen through a TypeDecorator such as UTCDateTime)."""
    return frozenset(c.name for c in table.c
                     if isinstance(getattr(c.type, "impl_instance", c.type), kind))


@dataclass
class Prepared:
    """A group's rows as the driver takes them, made before the chain's lock is taken:
    each entry's own values (between its chain and sequence number and its hashes), each
    entry's hashed tail, and each linked row's values but its link."""

    entries: list[list[Any]]
    tails: list[str]
    linked: list[list[Any]]


class Appender:
    """Appends groups of entries, each with its linked row, through a DB-API connection.

    ``append`` leaves the transaction it began open (for the caller's other writes and its
    COMMIT), except by ``STATEMENT``, which runs on an autocommit connection and is
    committed when it returns. Statements are built once, from constant names and the
    driver's placeholder only.
    """

    def __init__(self, dialect: Dialect, *, chains: int, linked: Linked,
                 also: str = "") -> None:
        self.postgresql = dialect.name == "postgresql"
        self.chains = chains if self.postgresql else 1
        self.mark = mark = "%s" if self.postgresql else "?"
        self.linked = linked
        self._insert_audit = _insert("audit_entries", _AUDIT_COLUMNS, mark)
        self._insert_linked = _insert(linked.table.name, linked.columns, mark)
        self._head = ("SELECT seq, hash FROM audit_entries WHERE chain = ? "
                      "ORDER BY seq DESC LIMIT 1").replace("?", mark)
        self._ids = ("SELECT id FROM audit_entries WHERE chain = ? AND seq > ? "
                     "ORDER BY seq").replace("?", mark)
        self._insert_both = _pg_insert_both(dialect, linked) if self.postgresql else ""
        # Keyed by whether ``also`` runs too.
        self._append_one = {with_also: _pg_append_one(dialect, linked,
                                                      also if with_also else "")
                            for with_also in (False, True)} if self.postgresql else {}
        # Binary COPY: each column named, each value typed as its column (the id first).
        audits = AuditEntry.__table__
        self._copy_audit = _pg_copy(audits, "audit_entries", ("id", *_AUDIT_COLUMNS), dialect)
        self._copy_linked = _pg_copy(linked.table, linked.table.name, linked.columns, dialect)
        # Only the few time and UUID columns need converting to the driver's form.
        self._times = _typed(audits, DateTime) | _typed(linked.table, DateTime)
        self._uuids = _typed(audits, Uuid) | _typed(linked.table, Uuid)

    def strategy(self, count: int, *, one_statement: bool = True) -> str:
        """How a group of ``count`` entries is best appended (``one_statement``: the
        caller's other writes fit ``also``, so a group of one may be one statement)."""
        if self.postgresql:
            if count == 1 and one_statement:
                return STATEMENT
            return COPY if count >= PG_COPY_MIN_ROWS else ARRAYS
        return ROW if count == 1 else ROWS

    def when(self, value: dt.datetime) -> Any:
        """A time in the driver's form."""
        naive = value.astimezone(dt.UTC).replace(tzinfo=None)
        # SQLite keeps SQLAlchemy's text form of a DateTime.
        return naive if self.postgresql else naive.isoformat(" ", "microseconds")

    def _rows(self, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]
              ) -> list[list[Any]]:
        """Each row's values in column order, in the driver's form. Only the few time and
        UUID columns are converted, and each distinct time once: a batch's thousand rows
        share their ``at`` and mostly their ``valid_until``."""
        times: dict[dt.datetime, Any] = {}

        def when(value: dt.datetime) -> Any:
            found = times.get(value)
            if found is None:
                found = times[value] = self.when(value)
            return found

        converters: list[tuple[int, Callable[[Any], Any]]] = [
            (i, when) for i, c in enumerate(columns) if c in self._times]
        if not self.postgresql:
            converters += [(i, _hex) for i, c in enumerate(columns) if c in self._uuids]
        pick = operator.itemgetter(*columns)
        out: list[list[Any]] = []
        for row in rows:
            values = list(pick(row))
            for i, convert in converters:
                if values[i] is not None:
                    values[i] = convert(values[i])
            out.append(values)
        return out

    def prepare(self, entries: Sequence[NewEntry], linked: Sequence[Mapping[str, Any]]
                ) -> Prepared:
        """The entries' and linked rows' values in the driver's form, all but what the
        chain's head decides (sequence numbers, hashes, the entries' ids)."""
        own = entry_rows(entries)
        return Prepared(entries=self._rows(own, _AUDIT_OWN), tails=[r["tail"] for r in own],
                        linked=self._rows(linked, self.linked.columns[:-1]))

    def _lock_chain(self, cursor: Any, reserve: int = 0) -> tuple[int, Any, list[int]]:
        """Begin, take a chain's append lock and read its head, and on PostgreSQL reserve
        ``reserve`` entry ids: (chain, head row or None, the ids in increasing order)."""
        if not self.postgresql:
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(self._head, (0,))
            return 0, cursor.fetchone(), []
        # The claim record_many makes too (migration 0009): a free chain if any, else wait
        # for one; here BEGIN (and the ids a COPY needs) travel with it in one round trip.
        # Only integers of our own are interpolated.
        first = random.randrange(self.chains)  # noqa: S311 - spreading load, not security
        ids = (f"; SELECT nextval(pg_get_serial_sequence('audit_entries', 'id')) "  # noqa: S608
               f"FROM generate_series(1, {int(reserve)})") if reserve else ""
        cursor.execute(f"BEGIN; SELECT * FROM portal_claim_audit_chain("  # noqa: S608
                       f"{int(first)}, {int(self.chains)}, {int(PG_LOCK_BASE)}){ids}")
        cursor.nextset()
        chain, seq, hash_ = cursor.fetchone()
        reserved: list[int] = []
        if reserve:
            cursor.nextset()
            reserved = sorted(row[0] for row in cursor.fetchall())
        return int(chain), (None if seq is None else (seq, hash_)), reserved

    def append(self, cursor: Any, prepared: Prepared, strategy: str, *,
               also: Sequence[Any] = ()) -> None:
        """Append the entries and insert their linked rows by ``strategy`` (one of
        ``STRATEGIES`` for this dialect); ``also``: the parameters of the WITH clause given
        at construction, to run it too (``STATEMENT`` only)."""
        if strategy not in STRATEGIES["postgresql" if self.postgresql else "sqlite"]:
            raise ValueError(f"no {strategy!r} strategy on this database")
        if also and strategy != STATEMENT:
            raise ValueError("only a single statement carries the extra WITH clause")
        count = len(prepared.tails)
        if strategy in (STATEMENT, ROW) and count != 1:
            raise ValueError(f"the {strategy!r} strategy appends one entry")
        if strategy == STATEMENT:
            self._append_statement(cursor, prepared, also)
            return
        copy = strategy == COPY
        chain, head, ids = self._lock_chain(cursor, reserve=count if copy else 0)
        seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS)
        entries = [[n, *own, before, digest] for own, (n, before, digest) in zip(
            prepared.entries, links(chain, seq, prev, prepared.tails), strict=True)]
        if copy:
            self._copy_both(cursor, chain, entries, prepared.linked, ids)
        elif strategy == ARRAYS:
            # Both tables in one statement, from column arrays (the same text whatever the
            # group's size, so the server prepares it once), each linked row joined to its
            # entry by sequence number (the statement swaps it for the entry's id).
            linked = [[*row, entry[0]]
                      for row, entry in zip(prepared.linked, entries, strict=True)]
            cursor.execute(self._insert_both, (
                chain, *_by_column(entries, len(_AUDIT_COLUMNS) - 1),
                *_by_column(linked, len(self.linked.columns))))
        else:
            self._insert_rows(cursor, chain, seq, entries, prepared.linked, strategy)

    def _append_statement(self, cursor: Any, prepared: Prepared, also: Sequence[Any]) -> None:
        """One entry's whole write in one autocommit statement (PostgreSQL): committed when
        it returns, nothing of it committed if it fails."""
        first = random.randrange(self.chains)  # noqa: S311 - spreading load, not security
        cursor.execute(self._append_one[bool(also)], (
            *also, GENESIS, first, self.chains, PG_LOCK_BASE,
            *prepared.entries[0], prepared.tails[0], *prepared.linked[0]))

    def _copy_both(self, cursor: Any, chain: int, entries: list[list[Any]],
                   linked: list[list[Any]], ids: list[int]) -> None:
        """A large group's entries and linked rows by binary COPY, each linked row naming
        its entry by the id reserved for that entry (``strict``: an id short fails)."""
        statement, types = self._copy_audit
        with cursor.copy(statement) as copy:
            copy.set_types(types)
            for entry_id, entry in zip(ids, entries, strict=True):
                copy.write_row((entry_id, chain, *entry))
        statement, types = self._copy_linked
        with cursor.copy(statement) as copy:
            copy.set_types(types)
            for entry_id, row in zip(ids, linked, strict=True):
                copy.write_row((*row, entry_id))

    def _insert_rows(self, cursor: Any, chain: int, seq: int, entries: list[list[Any]],
                     linked: list[list[Any]], strategy: str) -> None:
        """SQLite: the entries, their ids read back, then the linked rows."""
        if strategy == ROW:  # every check under sync workers: one statement fewer
            cursor.execute(self._insert_audit + " RETURNING id", [chain, *entries[0]])
            ids = [r[0] for r in cursor.fetchall()]
        else:
            cursor.executemany(self._insert_audit, [[chain, *e] for e in entries])
            cursor.execute(self._ids, (chain, seq))
            ids = [r[0] for r in cursor.fetchall()]
        if len(ids) != len(entries):  # pragma: no cover - the chain lock rules it out
            raise RuntimeError("audit entries and their linked rows do not pair up")
        cursor.executemany(self._insert_linked, [
            [*row, entry_id] for row, entry_id in zip(linked, ids, strict=True)])
