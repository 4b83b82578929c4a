"""Answering checks: the service that ties the cache, the read and the group commit together,
what a check's caller and answer are, and how its audit entry names its decision."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from consent import engine
from consent.check.cache import RefData, load_refdata
from consent.check.commit import GroupCommitter, _Work
from consent.check.read import _Reader
from consent.check.write import _Writer
from consent.models import ConsentEvent, NoticeVersion, ReferenceGeneration
from consent.schemas import Question
from portal import audit
from portal.audit import Actor, NewEntry
from portal.database import new_time_ordered_uuids, utcnow
from portal.errors import DomainError, Invalid
from portal.reference import apikeys
from portal.reference.apikeys import Authenticated

log = logging.getLogger("consent.checks")

# Checks waiting longer than this for their commit answer 503 deny.
COMMIT_WAIT_FACTOR = 3
# SQLite: each process copies the write-ahead log into the database at most this often
# (seconds), after answering; SQLite's own threshold (1,000 pages) stays as the safety net.
CHECKPOINT_INTERVAL = 0.2


class KeyRevoked(DomainError):
    """The key was revoked or expired between authentication and the answer."""

    status = 401
    code = "bad-key"


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
        digest = apikeys.lookup_hash(key)
        if digest is None:
            return None
        found = apikeys.verified(self.refdata().keys.get(digest), utcnow())
        if found is None:
            # Perhaps a key made (or renewed) since the cache was loaded: reload only if the
            # generation moved, so unknown keys cost one small read, not a reload.
            found = apikeys.verified(
                self.refdata(self._generation(), known=True).keys.get(digest), utcnow())
        return found

    def confirm_key(self, client_id: int) -> None:
        """Raise KeyRevoked if the key is no longer live by the database's current generation
        (for answers given before the check's own read, such as a malformed body)."""
        key = self.refdata(self._generation(), known=True).keys_by_client.get(client_id)
        if apikeys.verified(key, utcnow()) is None:
            raise KeyRevoked(apikeys.BAD_KEY)

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
        if caller.api_client_id is not None and apikeys.verified(
                refs.keys_by_client.get(caller.api_client_id), now) is None:
            raise KeyRevoked(apikeys.BAD_KEY)
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
        if not apikeys.use_due(self._touched.get(client_id), now):
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
