"""The consent check: facts from a per-process cache and one read, decisions committed together.

Why it is built this way (docs/performance.md has the design decisions and the latest figures):

- The reference data a check needs (API keys, agencies, purposes, categories, agreements,
  notice coverage) changes rarely, so each process keeps it in memory. Database triggers bump
  ``reference_generation`` on every change to those tables, and every check reads the
  generation in the same statement as the person's consent events. A changed generation
  reloads the cache before the answer is decided, so a revoked key, a retired agreement or a
  republished notice takes effect on the very next check, in every process.
- The person's facts come from one read, outside any write transaction (SQLite readers then
  do not queue behind the writer; PostgreSQL reads without a transaction block).
- Decisions and their audit entries are committed together with the other checks of the
  process waiting at that moment, in one transaction (group commit, leader and followers). A
  check is answered only after the transaction holding its decision has committed
  (invariant 3); if the commit fails, every check in it answers 503 deny (invariant 2).
- On SQLite, copying the write-ahead log back into the database (a checkpoint) is done after
  an answer has been sent, outside the writers' lock, instead of inside whichever commit
  crossed SQLite's threshold while every other process waited for it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import hashlib
import json
import logging
import operator
import os
import random
import threading
import time
import uuid
import weakref
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, FromClause, String, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker

from consent import engine
from consent.models import (
    CheckDecision,
    ConsentEvent,
    NoticeVersion,
    ReferenceGeneration,
    notice_version_agreements,
)
from consent.schemas import Question
from portal import audit
from portal.audit import Actor, AuditEntry, NewEntry
from portal.database import new_time_ordered_uuids, utcnow
from portal.errors import DomainError, Invalid
from portal.reference.apikeys import KEY_PREFIX, LAST_USED_RESOLUTION, Authenticated, hash_key
from portal.reference.models import (
    Agency,
    ApiClient,
    DataCategory,
    Purpose,
    SharingAgreement,
    agreement_categories,
)

log = logging.getLogger("consent.checks")

# Checks waiting longer than this for their commit answer 503 deny.
COMMIT_WAIT_FACTOR = 3
# Decisions per group commit; a batch call of 1,000 questions is one unit of work.
MAX_GROUP_ROWS = 4000
# SQLite: each process copies the write-ahead log into the database at most this often
# (seconds), after answering; SQLite's own threshold (1,000 pages) stays as the safety net.
CHECKPOINT_INTERVAL = 0.2
# PostgreSQL: a group of at least this many decisions goes in by binary COPY (the driver
# encodes its rows in C, the server inserts them in bulk); a smaller group costs less as one
# statement over column arrays. The two cost about the same near 64 rows.
PG_COPY_MIN_ROWS = 64


class KeyRevoked(DomainError):
    """The key was revoked or expired between authentication and the answer."""

    status = 401
    code = "bad-key"


class CommitFailed(RuntimeError):
    """The transaction holding this check's decision did not commit."""


@dataclass(frozen=True, slots=True)
class Caller:
    """The sharing system asking: its key and the agency the key belongs to."""

    agency_id: int
    api_client_id: int | None = None

    @property
    def actor(self) -> Actor:
        """The audit actor for this caller."""
        return Actor("api_client", str(self.api_client_id or 0), self.agency_id)


@dataclass(slots=True)
class CheckOutcome:
    """A decision together with the record it was logged under."""

    decision_id: uuid.UUID
    decision: engine.Decision
    _body: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The API response body for this check (built once: it is also what is logged)."""
        if self._body is None:
            self._body = self._build()
        return self._body

    def _build(self) -> dict[str, Any]:
        d = self.decision
        return {
            "decision": "permit" if d.permit else "deny",
            "decision_id": str(self.decision_id),
            "basis": d.basis,
            "categories": {c: cd.as_json() for c, cd in d.categories.items()},
            "reason": str(d.reason) if d.reason else None,
            "evaluated_at": _iso(d.evaluated_at),
            "valid_until": _iso(d.valid_until),
        }


@functools.lru_cache(maxsize=256)  # a batch's answers share their times
def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# How a check's audit entry names itself and its decision (consent.operations compares them).
CHECK_ACTION = "consent.check"
DECISION_OBJECT = "check_decision"


def decision_digest(subject_ref: str, basis: str | None, result: str,
                    valid_until: dt.datetime) -> str:
    """SHA-256 of what a decision row holds beyond what its audit entry states in clear:
    the reference asked about (kept out of the log's clear text), the basis, the
    per-category result (which consent record each category was decided on) and how long
    the answer holds. ``audit verify`` recomputes it from the row."""
    # Unambiguous without a JSON encoding (a batch makes a thousand): the reference is the
    # only free text before the last field, so it carries its length; a basis is a slug.
    body = (f"{len(subject_ref)}:{subject_ref}|{basis or ''}|{audit.stamp(valid_until)}|"
            f"{result}")
    return hashlib.sha256(body.encode()).hexdigest()


# --- Reference data, cached per process ------------------------------------------------------

@dataclass(frozen=True, slots=True)
class KeyFact:
    """What the cache knows of an API key."""

    client_id: int
    agency_id: int
    scopes: frozenset[str]
    expires_at: dt.datetime | None
    revoked: bool

    def live(self, now: dt.datetime) -> bool:
        """Unrevoked and unexpired at ``now``."""
        return not self.revoked and (self.expires_at is None or self.expires_at > now)


Route = tuple[list[engine.AgreementFact], list[engine.NoticeFact]]


@dataclass
class RefData:
    """The reference data as of one generation (None: the generation is unknown)."""

    generation: int | None
    keys: dict[str, KeyFact]
    keys_by_client: dict[int, KeyFact]
    agencies: dict[str, tuple[int, bool]]
    agency_active: dict[int, bool]
    purposes: dict[str, int]
    categories: frozenset[str]
    agreements: dict[tuple[int, int, int], list[engine.AgreementFact]]
    notices: list[engine.NoticeFact]
    _routes: dict[tuple[int, int, int], Route] = field(default_factory=dict)

    def route(self, caller: int, to: int, purpose: int) -> Route:
        """The agreements on a route from the caller, and the notices covering any of them."""
        key = (caller, to, purpose)
        found = self._routes.get(key)
        if found is None:
            agreements = self.agreements.get(key, [])
            ids = {a.id for a in agreements}
            notices = [n for n in self.notices if any(ids & c for c in n.coverage.values())]
            found = self._routes[key] = (agreements, notices)
        return found


def load_refdata(session: Session) -> RefData:
    """Read every piece of reference data a check uses, tagged with its generation."""
    # The generation is read first: a change committed while loading makes the cache look
    # older than it is, so it is reloaded on the next check, never trusted when stale.
    generation = session.scalar(select(ReferenceGeneration.value))
    keys: dict[str, KeyFact] = {}
    keys_by_client: dict[int, KeyFact] = {}
    for c in session.execute(select(ApiClient.id, ApiClient.agency_id, ApiClient.key_hash,
                                    ApiClient.scopes, ApiClient.expires_at,
                                    ApiClient.revoked_at)):
        fact = KeyFact(c.id, c.agency_id, frozenset(c.scopes.split()), c.expires_at,
                       c.revoked_at is not None)
        keys[c.key_hash] = keys_by_client[c.id] = fact
    agencies = {a.slug: (a.id, bool(a.active))
                for a in session.execute(select(Agency.slug, Agency.id, Agency.active))}
    purposes = {p.slug: p.id for p in session.execute(select(Purpose.slug, Purpose.id))}
    categories = frozenset(session.scalars(select(DataCategory.slug)))
    grouped: dict[int, dict[str, Any]] = {}
    for (aid, from_id, to_id, purpose_id, basis, gateway, vfrom, vto, retired, reference,
         cat) in session.execute(
            select(SharingAgreement.id, SharingAgreement.from_agency_id,
                   SharingAgreement.to_agency_id, SharingAgreement.purpose_id,
                   SharingAgreement.lawful_basis, SharingAgreement.statutory_gateway,
                   SharingAgreement.valid_from, SharingAgreement.valid_to,
                   SharingAgreement.retired_at, SharingAgreement.reference, DataCategory.slug)
            .join(agreement_categories,
                  agreement_categories.c.agreement_id == SharingAgreement.id)
            .join(DataCategory, DataCategory.id == agreement_categories.c.category_id)):
        entry = grouped.setdefault(aid, {"route": (from_id, to_id, purpose_id), "basis": basis,
                                         "gateway": gateway, "from": vfrom, "until": vto,
                                         "retired": retired is not None,
                                         "reference": reference, "cats": set()})
        entry["cats"].add(cat)
    agreements: dict[tuple[int, int, int], list[engine.AgreementFact]] = defaultdict(list)
    for aid, e in sorted(grouped.items()):
        agreements[e["route"]].append(engine.AgreementFact(
            id=aid, lawful_basis=e["basis"], categories=frozenset(e["cats"]),
            valid_from=e["from"], valid_to=e["until"], retired=e["retired"],
            statutory_gateway=e["gateway"], reference=e["reference"]))
    nva = notice_version_agreements
    coverage: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    reconsent: dict[int, int] = {}
    for notice_id, version, status, requires_reconsent, agreement_id in session.execute(
            select(NoticeVersion.notice_id, NoticeVersion.version, NoticeVersion.status,
                   NoticeVersion.requires_reconsent, nva.c.agreement_id)
            .outerjoin(nva, nva.c.notice_version_id == NoticeVersion.id)
            .where(NoticeVersion.status.in_(("published", "retired")))):
        covered = coverage[notice_id][version]
        if agreement_id is not None:
            covered.add(agreement_id)
        if requires_reconsent and status == "published":
            reconsent[notice_id] = max(version, reconsent.get(notice_id, 0))
    notices = [engine.NoticeFact(id=nid, coverage={v: frozenset(a) for v, a in cov.items()},
                                 reconsent_from=reconsent.get(nid))
               for nid, cov in sorted(coverage.items())]
    return RefData(generation=generation, keys=keys, keys_by_client=keys_by_client,
                   agencies=agencies, agency_active=dict(agencies.values()),
                   purposes=purposes, categories=categories, agreements=dict(agreements),
                   notices=notices)


# --- The person's facts: one read, no write transaction ---------------------------------------

_SUBJECT_COLUMNS = ("SELECT g.value, h.agency_ref, h.subject_id, e.id, e.notice_id, "
                    "e.event_type, e.public_id, nv.version, e.valid_until ")
_SUBJECT_JOINS = ("LEFT JOIN consent_events AS e ON e.subject_id = h.subject_id "
                  "LEFT JOIN notice_versions AS nv ON nv.id = e.notice_version_id")
# PostgreSQL sends only each notice's latest event (about half a person's events): read
# backwards along the index the check reads from, the first event per notice is the latest.
_PG_LATEST_JOINS = (
    "LEFT JOIN LATERAL (SELECT DISTINCT ON (ce.notice_id) ce.id, ce.notice_id, ce.event_type, "
    "ce.public_id, ce.notice_version_id, ce.valid_until FROM consent_events AS ce "
    "WHERE ce.subject_id = h.subject_id ORDER BY ce.notice_id DESC, ce.id DESC) AS e ON true "
    "LEFT JOIN notice_versions AS nv ON nv.id = e.notice_version_id")
# SQLite has no DISTINCT ON; with one max() in the select list its other columns come from the
# row holding that maximum (https://sqlite.org/lang_select.html#bareagg), so grouping per
# holding and notice sends only each notice's latest event too. The reference stays in the
# group: one agency may hold a person under two references.
_SQLITE_LATEST_COLUMNS = _SUBJECT_COLUMNS.replace("e.id,", "max(e.id),")
_SQLITE_LATEST_GROUP = " GROUP BY h.agency_ref, h.subject_id, e.notice_id"


class _Reader:
    """Raw DB-API reads of holdings and consent events, with the generation in the same
    statement (no ORM: this runs on every check)."""

    def __init__(self, dialect: str) -> None:
        self.postgresql = dialect == "postgresql"
        self._sql: dict[tuple[str, int, bool], str] = {}

    def _statement(self, by: str, count: int, with_generation: bool) -> str:
        # On PostgreSQL every list of values shares one statement (the server prepares it
        # once), and the event's public id comes as text: the row is then built without a
        # UUID object to turn back into text (uuid_text).
        key = (by, min(count, 2) if self.postgresql else count, with_generation)
        sql = self._sql.get(key)
        if sql is None:
            column = "h.agency_ref" if by == "ref" else "h.subject_id"
            source = "reference_generation AS g" if with_generation else \
                "(SELECT NULL AS value) AS g"
            columns, joins, group = _SQLITE_LATEST_COLUMNS, _SUBJECT_JOINS, _SQLITE_LATEST_GROUP
            mark, match = "?", f"{column} IN ({', '.join('?' * count)})"
            if self.postgresql:
                columns = _SUBJECT_COLUMNS.replace("e.public_id", "e.public_id::text")
                joins, group = _PG_LATEST_JOINS, ""
                mark, match = "%s", f"{column} = %s"
                if count > 1:
                    # A join to the list, not "= ANY": for a list of a thousand the planner
                    # chose a parallel scan of every holding over a thousand index lookups.
                    # A binary array (%b): the text form escapes each element with a regular
                    # expression.
                    type_ = "text" if by == "ref" else "uuid"
                    source += f" CROSS JOIN unnest(%b::{type_}[]) AS r(value)"
                    match = f"{column} = r.value"
            sql = self._sql[key] = (
                f"{columns}FROM {source} LEFT JOIN holdings AS h ON "
                f"h.agency_id = {mark} AND h.ended_at IS NULL AND {match} {joins}{group}")
        return sql

    def read(self, conn: Any, caller: int, by: str, values: list[Any]
             ) -> tuple[int | None, list[tuple[Any, ...]]]:
        """(generation, rows) for the caller's holdings matching the references or ids."""
        if by == "id" and not self.postgresql:
            values = [v.hex for v in values]
        params: list[Any] = [caller, *values] if not self.postgresql or len(values) == 1 \
            else [values, caller]  # the list comes first, in the FROM clause
        cursor = conn.cursor()
        try:
            cursor.execute(self._statement(by, len(values), True), params)
            rows = cursor.fetchall()
            if not rows:  # no generation row: answer from uncached facts
                cursor.execute(self._statement(by, len(values), False), params)
                rows = cursor.fetchall()
                return None, rows
        finally:
            cursor.close()
        return rows[0][0], rows

    def uuid(self, value: Any) -> uuid.UUID:
        """A UUID column's value as a UUID."""
        return value if isinstance(value, uuid.UUID) else uuid.UUID(hex=value)

    def uuid_text(self, value: Any) -> str:
        """An event's public id in its canonical text form (PostgreSQL sends it so already;
        SQLite stores 32 hex digits)."""
        if self.postgresql:
            return str(value)
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"

    def when(self, value: Any) -> dt.datetime | None:
        """A timestamp column's value as an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        result: dt.datetime = value.replace(tzinfo=dt.UTC)
        return result


# --- Group commit -------------------------------------------------------------------------

@dataclass
class _Work:
    entries: list[NewEntry]
    rows: list[dict[str, Any]]
    touch_client: int | None
    wake: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    error: BaseException | None = None


class GroupCommitter:
    """Leader/follower group commit: the first check to find no commit running writes every
    check waiting (its own included) in one transaction; checks that arrive meanwhile wait,
    each on its own event, and the first of them leads the next commit. No thread of its own,
    so no hand-off when the service is quiet, and no check is woken for nothing."""

    def __init__(self, writer: _Writer, *, lock_path: str | None, wait_seconds: float) -> None:
        self._writer = writer
        self._lock_path = lock_path
        self._lock_fd: int | None = None
        self._lock_pid = 0
        self._wait = wait_seconds
        self._queue: deque[_Work] = deque()
        self._lock = threading.Lock()
        self._busy = False

    def commit(self, work: _Work) -> None:
        """Return once the work is committed (raises CommitFailed otherwise)."""
        with self._lock:
            self._queue.append(work)
            lead = not self._busy
            self._busy = True
        if not lead:
            if not work.wake.wait(self._wait):
                with self._lock:
                    if not work.wake.is_set():  # neither written nor asked to lead
                        self._queue.remove(work)
                        raise CommitFailed("the decision was not committed in time")
            if not work.finished:
                lead = True  # appointed by the previous leader
        if lead:
            self._lead(work)
        if work.error is not None:
            raise CommitFailed("the decision could not be committed") from work.error

    def _lead(self, own: _Work) -> None:
        while not own.finished:
            with self._lock:
                batch = self._take()
            try:
                self._write(batch)
            except BaseException as exc:
                log.exception("group commit of %d checks failed", len(batch))
                for w in batch:
                    w.error = exc
            with self._lock:
                for w in batch:
                    w.finished = True
                    if w is not own:
                        w.wake.set()
                if own.finished:
                    if self._queue:
                        self._queue[0].wake.set()  # the next commit's leader
                    else:
                        self._busy = False

    def _take(self) -> list[_Work]:
        batch: list[_Work] = []
        rows = 0
        while self._queue and (not batch or rows + len(self._queue[0].rows) <= MAX_GROUP_ROWS):
            w = self._queue.popleft()
            batch.append(w)
            rows += len(w.rows)
        return batch

    @contextlib.contextmanager
    def _writer_lock(self) -> Iterator[None]:
        if self._lock_path is None:
            yield
            return
        # SQLite: processes take turns on a kernel lock, woken at once, instead of polling
        # the database lock with busy_timeout's sleeps.
        handle = self._lock_file(self._lock_path)
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

    def _lock_file(self, path: str) -> int:
        # Opened once per process (not per commit). A descriptor inherited across a fork
        # would share its lock with the parent's, so a child opens its own.
        pid = os.getpid()
        if self._lock_fd is None or self._lock_pid != pid:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            weakref.finalize(self, os.close, fd)
            self._lock_fd, self._lock_pid = fd, pid
        return self._lock_fd

    def _write(self, batch: list[_Work]) -> None:
        entries = [e for work in batch for e in work.entries]
        rows = [r for work in batch for r in work.rows]
        touched = sorted({w.touch_client for w in batch if w.touch_client is not None})
        # Everything that does not depend on the chain's head is made before the lock: on
        # SQLite writers take turns, so time under the lock bounds the rate of every writer.
        prepared = self._writer.prepare(entries, rows)
        with self._writer_lock():
            self._writer.write(prepared, touched)


_AUDIT_COLUMNS = ("chain", "seq", "at", "actor_type", "actor_id", "agency_id", "action",
                  "subject_id", "object_type", "object_id", "details", "prev_hash", "hash")
_DECISION_COLUMNS = ("id", "evaluated_at", "agency_id", "api_client_id", "recipient_agency_id",
                     "purpose_id", "subject_id", "subject_ref", "categories", "decision",
                     "basis", "reason", "result", "valid_until", "audit_id")  # audit_id last
# An entry's own values, between its place on a chain (chain, seq) and its hashes.
_AUDIT_OWN = _AUDIT_COLUMNS[2:-2]
_UUIDS = frozenset({"id", "subject_id"})
_TIMES = frozenset({"at", "evaluated_at", "valid_until"})


def _pg_cast_type(table: FromClause, column: str, dialect: Dialect) -> str:
    """The column's PostgreSQL type for a cast, from the model (strings as ``text``:
    a cast to ``varchar(n)`` would silently cut a value the column itself would refuse)."""
    type_ = table.c[column].type
    return "text" if isinstance(type_, String) else type_.compile(dialect=dialect)


def _pg_insert_both(dialect: Dialect) -> str:
    """Audit entries and their decisions in one statement; a decision's ``audit_id``
    parameter carries its entry's sequence number, swapped for the entry's id by the join."""
    audits, decisions = AuditEntry.__table__, CheckDecision.__table__
    # Arrays in the binary format (%b): the text format escapes every element with a
    # regular expression, which was most of the driver's share of a large batch.
    unnest_audit = ", ".join(f"%b::{_pg_cast_type(audits, c, dialect)}[]"
                             for c in _AUDIT_COLUMNS[1:])
    unnest_decisions = ", ".join(f"%b::{_pg_cast_type(decisions, c, dialect)}[]"
                                 for c in _DECISION_COLUMNS)
    aliases = ", ".join(f"d_{c}" for c in _DECISION_COLUMNS)
    chosen = ", ".join(f"d.d_{c}" if c != "audit_id" else "a.id" for c in _DECISION_COLUMNS)
    chain_type = _pg_cast_type(audits, "chain", dialect)
    # Constant names and the driver's placeholders only.
    return (
        f"WITH given AS (SELECT %s::{chain_type} AS chain), "  # noqa: S608
        f"a AS (INSERT INTO audit_entries ({', '.join(_AUDIT_COLUMNS)}) "
        f"SELECT given.chain, u.* FROM given, unnest({unnest_audit}) AS u "
        "RETURNING id, seq) "
        f"INSERT INTO check_decisions ({', '.join(_DECISION_COLUMNS)}) "
        f"SELECT {chosen} FROM unnest({unnest_decisions}) AS d({aliases}) "
        # A LEFT JOIN: a decision without its entry would get a NULL audit_id, which the
        # column refuses, so the statement fails and nothing is committed.
        "LEFT JOIN a ON a.seq = d.d_audit_id")


def _pg_copy(table: FromClause, name: str, columns: Sequence[str], dialect: Dialect
             ) -> tuple[str, list[str]]:
    """A binary COPY into the table's columns, and the type of each for the driver."""
    # Constant names only.
    statement = f"COPY {name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    return statement, [_pg_cast_type(table, c, dialect).lower() for c in columns]


def _pg_append_one(dialect: Dialect, *, touch: bool) -> str:
    """A group of one (every check under sync workers) as one autocommit statement: claim a
    chain and read its head (migration 0009), append the entry with its hash computed in the
    database, insert the decision linked to it, and, with ``touch``, mark the key as used.
    Plain parameters, which the driver converts in C; one round trip for the whole write."""
    audits, decisions = AuditEntry.__table__, CheckDecision.__table__
    values = ", ".join(f"%s::{_pg_cast_type(audits, c, dialect)}" for c in _AUDIT_OWN)
    digest = audit.PG_LINK_HASH.format(prev="c.prev", chain="c.chain", seq="c.seq",
                                       tail="%s::text")
    # audit_id is the last decision column: the new entry's id, not a parameter.
    chosen = ", ".join([*(f"%s::{_pg_cast_type(decisions, c, dialect)}"
                          for c in _DECISION_COLUMNS[:-1]), "a.id"])
    used = _pg_cast_type(ApiClient.__table__, "last_used_at", dialect)
    # A data-modifying WITH clause runs whether or not it is referenced.
    touched = (f"t AS (UPDATE api_clients SET last_used_at = %s::{used} "  # noqa: S608
               "WHERE id = %s), " if touch else "")
    # Constant names and the driver's placeholders only.
    return (
        f"WITH {touched}c AS (SELECT claimed_chain AS chain, "  # noqa: S608
        "coalesce(head_seq, 0) + 1 AS seq, coalesce(head_hash, %s) AS prev "
        "FROM portal_claim_audit_chain(%s, %s, %s)), "
        f"a AS (INSERT INTO audit_entries ({', '.join(_AUDIT_COLUMNS)}) "
        f"SELECT c.chain, c.seq, {values}, c.prev, {digest} FROM c RETURNING id) "
        f"INSERT INTO check_decisions ({', '.join(_DECISION_COLUMNS)}) "
        f"SELECT {chosen} FROM a")


def _hex(value: uuid.UUID) -> str:
    return value.hex


def _by_column(rows: list[list[Any]], width: int) -> list[list[Any]]:
    """Row lists turned into column lists (PostgreSQL's arrays)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


def _insert(table: str, columns: Sequence[str], mark: str) -> str:
    names, marks = ", ".join(columns), ", ".join([mark] * len(columns))
    return f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - constants only


@dataclass
class Prepared:
    """A group's rows as the driver takes them, made before the writer's lock is taken:
    each entry's own values (between its chain and sequence number and its hashes), each
    entry's hashed tail, and each decision's values but its ``audit_id``."""

    entries: list[list[Any]]
    tails: list[str]
    decisions: list[list[Any]]


class _Writer:
    """The group commit's statements, through the driver (no ORM: its fixed cost per
    transaction was most of the cost of a small group)."""

    def __init__(self, engine_: Engine, chains: int) -> None:
        self._engine = engine_
        self.postgresql = engine_.dialect.name == "postgresql"
        self._chains = chains if self.postgresql else 1
        # Statements built from constant names and the driver's placeholder only.
        mark = "%s" if self.postgresql else "?"
        self._mark = mark
        self._insert_audit = _insert("audit_entries", _AUDIT_COLUMNS, mark)
        self._insert_decision = _insert("check_decisions", _DECISION_COLUMNS, mark)
        self._head = ("SELECT seq, hash FROM audit_entries WHERE chain = ? "
                      "ORDER BY seq DESC LIMIT 1").replace("?", mark)
        self._ids = ("SELECT id FROM audit_entries WHERE chain = ? AND seq > ? "
                     "ORDER BY seq").replace("?", mark)
        self._insert_both = _pg_insert_both(engine_.dialect) if self.postgresql else ""
        self._append_one = {touch: _pg_append_one(engine_.dialect, touch=touch)
                            for touch in (False, True)} if self.postgresql else {}
        # Binary COPY: each column named, each value typed as its column (the id first).
        audits, decisions = AuditEntry.__table__, CheckDecision.__table__
        self._copy_audit = _pg_copy(audits, "audit_entries", ("id", *_AUDIT_COLUMNS),
                                    engine_.dialect)
        self._copy_decisions = _pg_copy(decisions, "check_decisions", _DECISION_COLUMNS,
                                        engine_.dialect)

    def _when(self, value: dt.datetime) -> Any:
        naive = value.astimezone(dt.UTC).replace(tzinfo=None)
        # SQLite keeps SQLAlchemy's text form of a DateTime.
        return naive if self.postgresql else naive.isoformat(" ", "microseconds")

    def _rows(self, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[list[Any]]:
        """Each row's values in column order, in the driver's form. Only the few time and
        UUID columns are converted, and each distinct time once: a batch's thousand rows
        share their ``at`` and mostly their ``valid_until``."""
        times: dict[dt.datetime, Any] = {}

        def when(value: dt.datetime) -> Any:
            found = times.get(value)
            if found is None:
                found = times[value] = self._when(value)
            return found

        converters: list[tuple[int, Callable[[Any], Any]]] = [
            (i, when) for i, c in enumerate(columns) if c in _TIMES]
        if not self.postgresql:
            converters += [(i, _hex) for i, c in enumerate(columns) if c in _UUIDS]
        pick = operator.itemgetter(*columns)
        out: list[list[Any]] = []
        for row in rows:
            values = list(pick(row))
            for i, convert in converters:
                if values[i] is not None:
                    values[i] = convert(values[i])
            out.append(values)
        return out

    def _lock_chain(self, cursor: Any, reserve: int = 0) -> tuple[int, Any, list[int]]:
        """Begin, take a chain's append lock and read its head, and on PostgreSQL reserve
        ``reserve`` entry ids: (chain, head row or None, the ids in increasing order)."""
        if not self.postgresql:
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(self._head, (0,))
            return 0, cursor.fetchone(), []
        # The claim portal.audit makes too (migration 0009): a free chain if any, else wait
        # for one; here BEGIN (and the ids a COPY needs) travel with it in one round trip.
        # Only integers of our own are interpolated.
        first = random.randrange(self._chains)  # noqa: S311 - spreading load, not security
        ids = (f"; SELECT nextval(pg_get_serial_sequence('audit_entries', 'id')) "  # noqa: S608
               f"FROM generate_series(1, {int(reserve)})") if reserve else ""
        cursor.execute(f"BEGIN; SELECT * FROM portal_claim_audit_chain("  # noqa: S608
                       f"{int(first)}, {int(self._chains)}, {int(audit.PG_LOCK_BASE)}){ids}")
        cursor.nextset()
        chain, seq, hash_ = cursor.fetchone()
        reserved: list[int] = []
        if reserve:
            cursor.nextset()
            reserved = sorted(row[0] for row in cursor.fetchall())
        return int(chain), (None if seq is None else (seq, hash_)), reserved

    def _commit(self, conn: Any) -> None:
        if self.postgresql:
            with conn.cursor() as cursor:
                cursor.execute("COMMIT")  # the transaction opened by _lock_chain
        else:
            conn.commit()

    def _touch(self, cursor: Any, touched: list[int]) -> None:
        if touched:
            marks = ", ".join([self._mark] * len(touched))
            cursor.execute(f"UPDATE api_clients SET last_used_at = {self._mark} "  # noqa: S608 - only placeholders are interpolated
                           f"WHERE id IN ({marks})", (self._when(utcnow()), *touched))

    def _append(self, cursor: Any, prepared: Prepared, touched: list[int]) -> None:
        """One check's whole write in one autocommit statement (PostgreSQL): committed when
        it returns, nothing of it committed if it fails."""
        first = random.randrange(self._chains)  # noqa: S311 - spreading load, not security
        touch = (self._when(utcnow()), touched[0]) if touched else ()
        cursor.execute(self._append_one[bool(touched)], (
            *touch, audit.GENESIS, first, self._chains, audit.PG_LOCK_BASE,
            *prepared.entries[0], prepared.tails[0], *prepared.decisions[0]))

    def prepare(self, entries: list[NewEntry], rows: list[dict[str, Any]]) -> Prepared:
        """The entries' and decisions' values in the driver's form, all but what the chain's
        head decides (sequence numbers, hashes, the entries' ids)."""
        own = audit.entry_rows(entries)
        return Prepared(entries=self._rows(own, _AUDIT_OWN), tails=[r["tail"] for r in own],
                        decisions=self._rows(rows, _DECISION_COLUMNS[:-1]))

    def _copy_both(self, cursor: Any, chain: int, entries: list[list[Any]],
                   decisions: list[list[Any]], ids: list[int]) -> None:
        """A large group's entries and decisions by binary COPY, each decision naming its
        entry by the id reserved for that entry (``strict``: an id short fails the group)."""
        statement, types = self._copy_audit
        with cursor.copy(statement) as copy:
            copy.set_types(types)
            for entry_id, entry in zip(ids, entries, strict=True):
                copy.write_row((entry_id, chain, *entry))
        statement, types = self._copy_decisions
        with cursor.copy(statement) as copy:
            copy.set_types(types)
            for entry_id, row in zip(ids, decisions, strict=True):
                copy.write_row((*row, entry_id))

    def write(self, prepared: Prepared, touched: list[int]) -> None:
        """Append the audit entries, insert the decisions linked to them, and commit."""
        conn = self._engine.raw_connection()
        driver: Any = conn.driver_connection
        if self.postgresql:
            # A check's write is one statement; a group's transaction is ours to open, so
            # that BEGIN travels with the chain claim.
            driver.autocommit = True
        cursor = conn.cursor()
        try:
            count = len(prepared.tails)
            if self.postgresql and count == 1 and len(touched) <= 1:
                self._append(cursor, prepared, touched)
                return
            copy = self.postgresql and count >= PG_COPY_MIN_ROWS
            chain, head, ids = self._lock_chain(cursor, reserve=count if copy else 0)
            seq, prev = (int(head[0]), str(head[1])) if head else (0, audit.GENESIS)
            entries = [[n, *own, before, digest] for own, (n, before, digest) in zip(
                prepared.entries, audit.links(chain, seq, prev, prepared.tails), strict=True)]
            if copy:
                self._copy_both(cursor, chain, entries, prepared.decisions, ids)
                self._touch(cursor, touched)
                self._commit(conn)
                return
            if self.postgresql:
                # Both tables in one statement, from column arrays (the same text whatever
                # the group's size, so the server prepares it once), each decision joined to
                # its entry by sequence number (the statement swaps it for the entry's id).
                decisions = [[*row, entry[0]]
                             for row, entry in zip(prepared.decisions, entries, strict=True)]
                cursor.execute(self._insert_both, (
                    chain, *_by_column(entries, len(_AUDIT_COLUMNS) - 1),
                    *_by_column(decisions, len(_DECISION_COLUMNS))))
                self._touch(cursor, touched)
                self._commit(conn)
                return
            if count == 1:  # every check under sync workers: one statement fewer
                cursor.execute(self._insert_audit + " RETURNING id", [chain, *entries[0]])
                ids = [r[0] for r in cursor.fetchall()]
            else:
                cursor.executemany(self._insert_audit, [[chain, *e] for e in entries])
                cursor.execute(self._ids, (chain, seq))
                ids = [r[0] for r in cursor.fetchall()]
            if len(ids) != count:  # pragma: no cover - the chain lock rules it out
                raise RuntimeError("audit entries and decisions do not pair up")
            cursor.executemany(self._insert_decision, [
                [*row, audit_id] for row, audit_id in zip(prepared.decisions, ids, strict=True)])
            self._touch(cursor, touched)
            self._commit(conn)
        except BaseException:
            conn.rollback()  # sends ROLLBACK in autocommit mode too, if a transaction is open
            raise
        finally:
            cursor.close()
            if self.postgresql:
                try:
                    driver.autocommit = False
                except Exception:  # noqa: BLE001 - broken, or a transaction still open
                    # Never hand the pool a connection left in autocommit mode.
                    conn.invalidate()
            conn.close()


# --- The service ------------------------------------------------------------------------------

class CheckService:
    """Answers checks for one application: the cache, the reader and the committer."""

    def __init__(self, engine_: Engine, factory: sessionmaker[Session], *,
                 timeout_ms: int) -> None:
        self._factory = factory
        self._engine = engine_
        self._reader = _Reader(self._engine.dialect.name)
        self._refdata: RefData | None = None
        self._lock = threading.Lock()
        self._touched: dict[int, dt.datetime] = {}
        lock_path = None
        database = self._engine.url.database
        if self._engine.dialect.name == "sqlite" and database and database != ":memory:":
            lock_path = f"{database}.check-writer.lock"
        self._wal = lock_path is not None
        self._last_checkpoint = time.monotonic()
        chains = (factory.kw.get("info") or {}).get(audit.SESSION_CHAINS_KEY) or audit.PG_CHAINS
        self.committer = GroupCommitter(_Writer(engine_, int(chains)), lock_path=lock_path,
                                        wait_seconds=COMMIT_WAIT_FACTOR * timeout_ms / 1000)

    def refdata(self, generation: int | None = None, *, known: bool = False) -> RefData:
        """The cached reference data, reloaded if the database's generation moved on."""
        current = self._refdata
        if current is not None and current.generation is not None and (
                not known or generation == current.generation):
            return current
        with self._lock:
            current = self._refdata
            if current is None or current.generation is None or (
                    known and generation != current.generation):
                session = self._factory()
                try:
                    current = load_refdata(session)
                    session.rollback()
                finally:
                    session.close()
                self._refdata = current
            return current

    def checkpoint_due(self) -> bool:
        """True when this process should checkpoint SQLite's write-ahead log after answering."""
        return self._wal and time.monotonic() - self._last_checkpoint >= CHECKPOINT_INTERVAL

    def checkpoint(self) -> tuple[int, int, int] | None:
        """Copy committed log pages into the SQLite database without blocking writers or
        readers (a PASSIVE checkpoint) and return SQLite's (busy, pages in log, pages copied);
        None if it failed, which is only logged: the answer has already been sent."""
        self._last_checkpoint = time.monotonic()
        try:
            row = self._fetch_one("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:
            log.warning("write-ahead log checkpoint failed", exc_info=True)
            return None
        return (int(row[0]), int(row[1]), int(row[2])) if row else None

    def authenticate(self, key: str) -> Authenticated | None:
        """The key's identity from the cache; re-confirmed against the generation later."""
        if not key.startswith(KEY_PREFIX) or len(key) > 200:
            return None
        digest = hash_key(key)
        fact = self.refdata().keys.get(digest)
        if fact is None or not fact.live(utcnow()):
            # Perhaps a key made (or renewed) since the cache was loaded: reload only if the
            # generation moved, so unknown keys cost one small read, not a reload.
            fact = self.refdata(self._generation(), known=True).keys.get(digest)
            if fact is None or not fact.live(utcnow()):
                return None
        return Authenticated(fact.client_id, fact.agency_id, fact.scopes)

    def confirm_key(self, client_id: int) -> None:
        """Raise KeyRevoked if the key is no longer live by the database's current generation
        (for answers given before the check's own read, such as a malformed body)."""
        key = self.refdata(self._generation(), known=True).keys_by_client.get(client_id)
        if key is None or not key.live(utcnow()):
            raise KeyRevoked("the API key is unknown, expired or revoked")

    def _generation(self) -> int | None:
        row = self._fetch_one("SELECT value FROM reference_generation")
        return int(row[0]) if row else None

    def _fetch_one(self, sql: str) -> Any:
        """The first row of one statement through a pooled driver connection, no ORM."""
        conn = self._engine.raw_connection()
        try:
            cursor = conn.cursor()
            cursor.execute(sql)
            row = cursor.fetchone()
            cursor.close()
            if self._reader.postgresql:
                conn.rollback()
        finally:
            conn.close()
        return row

    def check(self, caller: Caller, questions: Sequence[Question], *, permit_ttl: dt.timedelta,
              batch: bool = False, now: dt.datetime | None = None) -> list[CheckOutcome]:
        """Answer each question; every decision and audit entry is committed on return."""
        now = now or utcnow()
        generation, by_ref, by_id = self._read(caller.agency_id, questions)
        refs = self.refdata(generation, known=True)
        if caller.api_client_id is not None:
            key = refs.keys_by_client.get(caller.api_client_id)
            if key is None or not key.live(now):
                raise KeyRevoked("the API key is unknown, expired or revoked")
        agencies, purposes = refs.agencies, refs.purposes
        for i, q in enumerate(questions):
            _known(refs, i, q, batch)
        discloser_active = refs.agency_active.get(caller.agency_id, False)
        outcomes: list[CheckOutcome] = []
        rows: list[dict[str, Any]] = []
        entries: list[NewEntry] = []
        actor = caller.actor
        ids = iter(new_time_ordered_uuids(len(questions)))
        # The questions of a batch mostly ask about the same route and categories.
        routes: dict[tuple[int, int], engine.RouteFacts] = {}
        listed: dict[tuple[str, ...], str] = {}
        for q in questions:
            if q.subject.agency_ref:
                subject_id, consents = by_ref.get(q.subject.agency_ref, (None, {}))
            else:
                subject_id, consents = by_id.get(q.subject.subject_id, (None, {})) \
                    if q.subject.subject_id else (None, {})
            to_id, recipient_active = agencies[q.recipient]
            purpose_id = purposes[q.purpose]
            route = routes.get((to_id, purpose_id))
            if route is None:
                route_agreements, route_notices = refs.route(caller.agency_id, to_id,
                                                             purpose_id)
                route = routes[to_id, purpose_id] = engine.RouteFacts(
                    now=now, agreements=route_agreements, notices=route_notices,
                    discloser_active=discloser_active, recipient_active=recipient_active,
                    permit_ttl=permit_ttl)
            # An unknown or unlinked subject has no facts: the same answer as no consent.
            decision = engine.decide_on_route(route, q.categories, consents)
            outcome = CheckOutcome(next(ids), decision)
            outcomes.append(outcome)
            body = outcome.as_json()
            categories = listed.get(q.categories)
            if categories is None:
                categories = listed[q.categories] = json.dumps(list(q.categories))
            subject_ref = q.subject.agency_ref or str(q.subject.subject_id)
            result = audit.canonical_json(body["categories"])
            rows.append({
                "id": outcome.decision_id, "evaluated_at": now, "agency_id": caller.agency_id,
                "api_client_id": caller.api_client_id, "recipient_agency_id": to_id,
                "purpose_id": purpose_id, "subject_id": subject_id,
                "subject_ref": subject_ref, "categories": categories,
                "decision": body["decision"], "basis": decision.basis, "reason": body["reason"],
                "result": result, "valid_until": decision.valid_until,
            })
            entries.append(NewEntry(
                CHECK_ACTION, actor, subject_id=subject_id, object_type=DECISION_OBJECT,
                object_id=body["decision_id"], at=now,
                details={"recipient": q.recipient, "purpose": q.purpose,
                         "categories": list(q.categories), "decision": body["decision"],
                         "reason": body["reason"],
                         "row": decision_digest(subject_ref, decision.basis, result,
                                                decision.valid_until)}))
        self.committer.commit(_Work(entries, rows, self._touch(caller.api_client_id, now)))
        return outcomes

    def consented(self, session: Session, subject_id: uuid.UUID, from_agency_id: int,
                  to_agency_id: int, category: str, *, now: dt.datetime | None = None) -> bool:
        """True when the person's own consent, for some purpose, lets the discloser share the
        category with the recipient now: the engine's answer on the current reference data.
        A statutory basis does not count: this asks what the person allowed."""
        now = now or utcnow()
        # Read on the caller's session: a page's own write transaction holds SQLite's lock,
        # so the cache's reload (its own session) would wait on it.
        generation = session.scalar(select(ReferenceGeneration.value))
        refs = self._refdata
        if refs is None or refs.generation is None or refs.generation != generation:
            refs = load_refdata(session)
        latest: dict[int, ConsentEvent] = {}  # the latest event per notice is the state
        for event in session.scalars(select(ConsentEvent).where(
                ConsentEvent.subject_id == subject_id).order_by(ConsentEvent.id)):
            latest[event.notice_id] = event
        versions = {e.notice_version_id for e in latest.values()}
        numbers: dict[int, int] = {row.id: row.version for row in session.execute(
            select(NoticeVersion.id, NoticeVersion.version)
            .where(NoticeVersion.id.in_(versions)))} if versions else {}
        consents = {nid: engine.ConsentFact(
            notice_id=nid, event_type=e.event_type, event_id=str(e.public_id),
            notice_version=numbers[e.notice_version_id],
            valid_until=e.valid_until.replace(tzinfo=dt.UTC) if e.valid_until else None)
            for nid, e in latest.items()}
        active = refs.agency_active
        for purpose_id in sorted(refs.purposes.values()):
            agreements, notices = refs.route(from_agency_id, to_agency_id, purpose_id)
            if not agreements:
                continue
            route = engine.RouteFacts(now=now, agreements=agreements, notices=notices,
                                      discloser_active=active.get(from_agency_id, False),
                                      recipient_active=active.get(to_agency_id, False))
            decision = engine.decide_on_route(route, [category], consents)
            if decision.permit and decision.basis == engine.CONSENT:
                return True
        return False

    def _touch(self, client_id: int | None, now: dt.datetime) -> int | None:
        """The key to mark as used in this commit, at most once per resolution per process."""
        if client_id is None:
            return None
        last = self._touched.get(client_id)
        if last is not None and now - last <= LAST_USED_RESOLUTION:
            return None
        self._touched[client_id] = now
        return client_id

    def _read(self, caller: int, questions: Sequence[Question]
              ) -> tuple[int | None, dict[str, tuple[uuid.UUID, Consents]],
                         dict[uuid.UUID, tuple[uuid.UUID, Consents]]]:
        refs = sorted({q.subject.agency_ref for q in questions if q.subject.agency_ref})
        ids = sorted({q.subject.subject_id for q in questions
                      if not q.subject.agency_ref and q.subject.subject_id})
        lookups = ([("ref", refs)] if refs else []) + ([("id", ids)] if ids else [])
        if not lookups:
            lookups = [("ref", [""])]  # still read the generation
        reader = self._reader
        generation: int | None = None
        # Per subject (as the driver gives it), per notice: the latest event's row.
        latest: dict[Any, dict[int, tuple[Any, ...]]] = {}
        keyed: list[dict[Any, Any]] = [{}, {}]
        conn = self._engine.raw_connection()
        postgresql = reader.postgresql
        if postgresql:
            # Read without a transaction block: no BEGIN and no ROLLBACK round trips.
            conn.driver_connection.autocommit = True  # type: ignore[union-attr]
        try:
            for n, (by, values) in enumerate(lookups):
                found, rows = reader.read(conn, caller, by, values)
                generation = found if n == 0 else generation
                index = keyed[0 if by == "ref" else 1]
                for row in rows:
                    subject = row[2]
                    if subject is None:
                        continue
                    index[row[1] if by == "ref" else subject] = subject
                    per_notice = latest.setdefault(subject, {})
                    event_id, notice_id = row[3], row[4]
                    if event_id is None:
                        continue
                    # The latest event per notice is the state.
                    seen = per_notice.get(notice_id)
                    if seen is None or seen[3] < event_id:
                        per_notice[notice_id] = row
        finally:
            try:
                if postgresql:
                    conn.driver_connection.autocommit = False  # type: ignore[union-attr]
            finally:
                # Back to the pool even if the connection broke (it is then discarded there).
                conn.close()
        subjects: dict[Any, tuple[uuid.UUID, Consents]] = {}
        for subject, per in latest.items():
            subjects[subject] = (reader.uuid(subject), {
                nid: engine.ConsentFact(notice_id=nid, event_type=r[5],
                                        event_id=reader.uuid_text(r[6]), notice_version=r[7],
                                        valid_until=reader.when(r[8]))
                for nid, r in per.items()})
        by_ref = {ref: subjects[s] for ref, s in keyed[0].items()}
        by_id = {subjects[s][0]: subjects[s] for s in keyed[1].values()}
        return generation, by_ref, by_id


Consents = dict[int, engine.ConsentFact]


def _known(refs: RefData, index: int, q: Question, prefixed: bool) -> None:
    """422 on the first slug that names nothing."""
    prefix = f"questions[{index}]." if prefixed else ""
    if q.recipient not in refs.agencies:
        raise Invalid(f"{prefix}recipient: no agency {q.recipient!r}", field=prefix + "recipient")
    if q.purpose not in refs.purposes:
        raise Invalid(f"{prefix}purpose: no purpose {q.purpose!r}", field=prefix + "purpose")
    for j, c in enumerate(q.categories):
        if c not in refs.categories:
            raise Invalid(f"{prefix}categories[{j}]: no category {c!r}",
                          field=f"{prefix}categories[{j}]")

