"""Synthetic data for the consent-check benchmark: subjects, holdings and consent events.

The data is generated from a seeded random source (the same data on every engine for the
same arguments) and written with bulk inserts that bypass the ORM: SQLAlchemy Core
``insert()`` executemany on SQLite, psycopg 3 ``COPY`` on PostgreSQL.

Every subject has one holding at ``fenshire-police`` (``BENCH-0000001``...) with the
categories identity, contact-details and incident-report, and about M/N consent events spread
over the notices victim-support-referral (v1), restorative-justice (v1) and idva-referral
(v1/v2). Each notice's events follow the product's rules (a withdrawal follows a consent, an
``expired`` event lands exactly when the consent it ends runs out, a renewal follows a
consent...), and the latest victim-support-referral event permits for about half the
subjects. Event ids increase in recording order (``recorded_at``), as the product's
"latest event by id" rule expects.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event, insert, select
from sqlalchemy.orm import Session

from consent.models import ConsentEvent, Notice, NoticeVersion
from portal.reference.models import Agency, DataCategory, Holding, Subject, holding_categories

DAY = 86_400
WINDOW = 20 * 365 * DAY  # recorded times are seconds after now - WINDOW
TIME_BITS = 30
CODE_BITS = 5
DELAY_BITS = 13  # recording delay in minutes, at most 3 days
MAX_DELAY_MIN = 3 * 24 * 60
WEB_DELAY_MIN = 2
MIN_GAP = 5 * DAY  # > the longest recording delay, so recording order is event order

TYPES = ("given", "refused", "withdrawn", "renewed", "expired")
T_GIVEN, T_REFUSED, T_WITHDRAWN, T_RENEWED, T_EXPIRED = range(5)
PERMITTING = (T_GIVEN, T_RENEWED)
# Notice versions the benchmark uses, in code order: code = slot * 8 + event type.
SLOTS = (("victim-support-referral", 1), ("restorative-justice", 1), ("idva-referral", 1),
         ("idva-referral", 2))
S_VSR, S_RJ, S_IDVA1, S_IDVA2 = range(4)
HOLDING_CATEGORIES = ("identity", "contact-details", "incident-report")
PERMIT_SHARE = 0.5  # of subjects whose latest victim-support-referral event permits

GIVEN_NAMES = ("Alex", "Sam", "Jordan", "Morgan", "Casey", "Taylor", "Jamie", "Riley",
               "Priya", "Tomasz", "Aisha", "Owen", "Rhian", "Marek", "Chloe", "Dylan")
FAMILY_NAMES = ("Rivera", "Okafor", "Price", "Lee", "Walsh", "Nguyen", "Jones", "Evans",
                "Kowalski", "Patel", "Hughes", "Davies", "Nowak", "Smith", "Khan", "Morgan")
STREETS = ("Mill Lane", "Station Road", "Church Street", "Fen Road", "High Street",
           "Victoria Terrace", "Dyke Way", "Marsh Close")


@dataclass(frozen=True, slots=True)
class RefData:
    """Identifiers of the reference rows ``portal.demo.seed`` created."""

    police_id: int
    category_ids: tuple[int, ...]
    slot_notice: tuple[int, ...]  # notice id per slot
    slot_version: tuple[int, ...]  # notice version id per slot
    slot_validity: tuple[int | None, ...]  # validity in days per slot
    idva_v2_published: dt.datetime
    first_holding_id: int


def load_refdata(session: Session) -> RefData:
    """Look up the ids the generator needs (after ``portal.demo.seed``)."""
    police = session.scalar(select(Agency.id).where(Agency.slug == "fenshire-police"))
    assert police is not None
    cats = dict(session.execute(select(DataCategory.slug, DataCategory.id)).tuples().all())
    notice_ids, version_ids, validity = [], [], []
    published: dict[tuple[str, int], dt.datetime | None] = {}
    for slug, number in SLOTS:
        row = session.execute(
            select(Notice.id, NoticeVersion.id, NoticeVersion.validity_days,
                   NoticeVersion.published_at)
            .join(NoticeVersion, NoticeVersion.notice_id == Notice.id)
            .where(Notice.slug == slug, NoticeVersion.version == number)).one()
        notice_ids.append(row[0])
        version_ids.append(row[1])
        validity.append(row[2])
        published[(slug, number)] = row[3]
    v2 = published[("idva-referral", 2)]
    assert v2 is not None
    last_holding = session.scalar(select(Holding.id).order_by(Holding.id.desc()).limit(1))
    return RefData(police_id=police, category_ids=tuple(cats[c] for c in HOLDING_CATEGORIES),
                   slot_notice=tuple(notice_ids), slot_version=tuple(version_ids),
                   slot_validity=tuple(validity), idva_v2_published=v2,
                   first_holding_id=(last_holding or 0) + 1)


@dataclass
class Plan:
    """Everything to write, compactly: one packed int per event, sorted by recording time."""

    subjects: int
    now: dt.datetime
    window_start: dt.datetime
    subject_bits: int
    subject_ids: list[uuid.UUID] = field(default_factory=list)
    created: array[int] = field(default_factory=lambda: array("q"))  # seconds, per subject
    events: list[int] = field(default_factory=list)
    vsr_permits: int = 0
    seed: int = 1

    def unpack(self, key: int) -> tuple[int, int, int, int]:
        """(recorded offset s, subject index, code, delay min) of a packed event."""
        delay = key & ((1 << DELAY_BITS) - 1)
        key >>= DELAY_BITS
        code = key & ((1 << CODE_BITS) - 1)
        key >>= CODE_BITS
        subject = key & ((1 << self.subject_bits) - 1)
        return key >> self.subject_bits, subject, code, delay


class _Chain:
    """Builds one notice's event sequence for one subject, backwards in time."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def types(self, k: int, permit: bool) -> tuple[list[int], bool]:
        """k event types ending in a permit or a deny; True if the last consent is stale."""
        rng = self.rng
        seq: list[int] = []
        state = -1
        for _ in range(k - 1):
            r = rng.random()
            if state == -1:
                nxt = T_GIVEN if r < 0.75 else T_REFUSED
            elif state in PERMITTING:
                nxt = T_WITHDRAWN if r < 0.4 else T_RENEWED if r < 0.75 else T_EXPIRED
            elif state == T_WITHDRAWN:
                nxt = T_GIVEN if r < 0.6 else T_REFUSED
            elif state == T_REFUSED:
                nxt = T_GIVEN if r < 0.8 else T_REFUSED
            else:  # expired
                nxt = T_RENEWED if r < 0.5 else T_GIVEN if r < 0.8 else T_REFUSED
            seq.append(nxt)
            state = nxt
        r = rng.random()
        stale = False
        if permit:
            last = T_RENEWED if state in (*PERMITTING, T_EXPIRED) and r < 0.6 else T_GIVEN
        elif state in PERMITTING:
            if r < 0.6:
                last = T_WITHDRAWN
            elif r < 0.85:
                last = T_EXPIRED
            else:
                last, stale = T_RENEWED, True
        elif r < 0.75:
            last = T_REFUSED
        else:
            last, stale = T_GIVEN, True
        seq.append(last)
        return seq, stale

    def times(self, seq: list[int], stale: bool, validity_s: int, now_s: int) -> list[int]:
        """Occurrence times (seconds in the window) for the sequence, oldest first."""
        u = self.rng.randint
        last = seq[-1]
        if stale:
            t = now_s - u(validity_s + DAY, validity_s + 335 * DAY)
        elif last in PERMITTING:
            t = now_s - u(3600, 330 * DAY)
        elif last == T_EXPIRED:
            t = now_s - u(3600, 300 * DAY)
        else:
            t = now_s - u(3600, 600 * DAY)
        out = [t]
        for i in range(len(seq) - 2, -1, -1):
            cur, nxt = seq[i], seq[i + 1]
            if nxt == T_EXPIRED:
                gap = validity_s
            elif nxt == T_RENEWED and cur in PERMITTING:
                gap = u(200 * DAY, min(360 * DAY, validity_s - DAY))
            elif nxt == T_RENEWED:
                gap = u(MIN_GAP, 200 * DAY)
            elif nxt == T_WITHDRAWN:
                gap = u(MIN_GAP, 300 * DAY)
            else:
                gap = u(MIN_GAP, 400 * DAY)
            t -= gap
            out.append(t)
        out.reverse()
        return out


def make_plan(subjects: int, events: int, ref: RefData, *, seed: int = 1,
              now: dt.datetime | None = None) -> Plan:
    """Generate the subjects and a time-ordered list of consent events."""
    now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
    window_start = now - dt.timedelta(seconds=WINDOW)
    plan = Plan(subjects=subjects, now=now, window_start=window_start,
                subject_bits=max(1, subjects.bit_length()), seed=seed)
    rng = random.Random(seed)
    chain = _Chain(rng)
    now_s = WINDOW
    v2_s = int((ref.idva_v2_published - window_start).total_seconds())
    validity = [(d or 365) * DAY for d in ref.slot_validity]
    per, extra = divmod(events, subjects) if subjects else (0, 0)
    sb = plan.subject_bits
    out = plan.events
    created = plan.created
    getrandbits = rng.getrandbits
    rand = rng.random
    for i in range(subjects):
        plan.subject_ids.append(uuid.UUID(int=getrandbits(128), version=4))
        budget = per + (1 if i < extra else 0)
        earliest = now_s - rng.randint(DAY, 30 * DAY)
        if budget:
            k_vsr = min(budget, rng.choice((1, 1, 2, 2, 3)))
            rest = budget - k_vsr
            k_rj = rng.randint(0, rest)
            permit = rand() < PERMIT_SHARE
            plan.vsr_permits += permit
            for slot, k, want in ((S_VSR, k_vsr, permit), (S_RJ, k_rj, rand() < 0.5),
                                  (S_IDVA1, rest - k_rj, rand() < 0.5)):
                if not k:
                    continue
                seq, stale = chain.types(k, want)
                times = chain.times(seq, stale, validity[slot], now_s)
                earliest = min(earliest, times[0] - rng.randint(0, 30 * DAY))
                consent_slot = slot
                for j, (etype, t) in enumerate(zip(seq, times, strict=True)):
                    if slot == S_IDVA1 and etype not in (T_WITHDRAWN, T_EXPIRED):
                        # Before v2 was published only v1 existed; after, most use v2.
                        consent_slot = S_IDVA2 if t >= v2_s and rand() < 0.85 else S_IDVA1
                    code = consent_slot * 8 + etype
                    if etype == T_EXPIRED:
                        delay = 0
                    elif rand() < 0.5:
                        delay = rng.randint(0, WEB_DELAY_MIN)
                    else:
                        delay = rng.randint(WEB_DELAY_MIN + 1, MAX_DELAY_MIN)
                    delay = min(delay, (now_s - t) // 60)
                    if j + 1 < len(times):
                        delay = min(delay, (times[j + 1] - t) // 60 - 1)
                    recorded = t + delay * 60
                    out.append((((((recorded << sb) | i) << CODE_BITS) | code) << DELAY_BITS)
                               | delay)
        created.append(max(0, earliest))
    out.sort()
    return plan


# --- Rows ----------------------------------------------------------------------------------

SUBJECT_COLUMNS = ("id", "given_name", "family_name", "date_of_birth", "email", "phone",
                   "postal_address", "safe_contact", "preferred_language",
                   "contact_channel", "email_wording", "registered_by_agency_id",
                   "created_at")
HOLDING_COLUMNS = ("id", "agency_id", "subject_id", "agency_ref", "since", "updated_at",
                   "ended_at")
EVENT_COLUMNS = ("public_id", "subject_id", "notice_id", "notice_version_id", "event_type",
                 "occurred_at", "recorded_at", "valid_until", "expressed_by", "guardian_name",
                 "guardian_relationship", "method", "language", "recorded_by", "agency_id",
                 "evidence")


def agency_ref(i: int) -> str:
    """The police reference of the i-th generated subject (0-based)."""
    return f"BENCH-{i + 1:07d}"


def subject_rows(plan: Plan, ref: RefData, *, aware: bool = True
                 ) -> Iterator[tuple[Any, ...]]:
    """Subjects, as tuples in SUBJECT_COLUMNS order (aware or naive UTC datetimes)."""
    rng = random.Random(plan.seed + 1)
    start = plan.window_start if aware else plan.window_start.replace(tzinfo=None)
    langs = ("en",) * 17 + ("cy", "cy", "pl")
    for i, sid in enumerate(plan.subject_ids):
        given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
        created = start + dt.timedelta(seconds=plan.created[i])
        dob = dt.date(rng.randint(1940, 2006), rng.randint(1, 12), rng.randint(1, 28))
        yield (sid, given, family, dob, f"{given.lower()}.{family.lower()}{i}@example.org",
               f"07700 {rng.randint(0, 999999):06d}",
               f"{rng.randint(1, 200)} {rng.choice(STREETS)}, Fenshire FE{rng.randint(1, 9)}",
               "", rng.choice(langs), "", "neutral", ref.police_id, created)


def holding_rows(plan: Plan, ref: RefData, *, aware: bool = True
                 ) -> Iterator[tuple[Any, ...]]:
    """Holdings, as tuples in HOLDING_COLUMNS order (aware or naive UTC datetimes)."""
    start = plan.window_start if aware else plan.window_start.replace(tzinfo=None)
    for i, sid in enumerate(plan.subject_ids):
        created = start + dt.timedelta(seconds=plan.created[i])
        yield (ref.first_holding_id + i, ref.police_id, sid, agency_ref(i), created.date(),
               created, None)


def holding_category_rows(plan: Plan, ref: RefData) -> Iterator[tuple[int, int]]:
    """(holding_id, category_id) pairs."""
    for i in range(plan.subjects):
        for cat in ref.category_ids:
            yield ref.first_holding_id + i, cat


def event_rows(plan: Plan, ref: RefData, *, aware: bool = True
               ) -> Iterator[tuple[Any, ...]]:
    """Consent events in recording order, as tuples in EVENT_COLUMNS order."""
    rng = random.Random(plan.seed + 2)
    start = plan.window_start if aware else plan.window_start.replace(tzinfo=None)
    td = dt.timedelta
    methods = ("first-contact", "first-contact", "phone", "paper", "email")
    validity = [td(days=d) if d else None for d in ref.slot_validity]
    for key in plan.events:
        recorded_s, subject, code, delay = plan.unpack(key)
        slot, etype = divmod(code, 8)
        recorded = start + td(seconds=recorded_s)
        occurred = recorded - td(minutes=delay) if delay else recorded
        valid_until = None
        if etype in PERMITTING and validity[slot] is not None:
            valid_until = occurred + validity[slot]  # type: ignore[operator]
        guardian_name = guardian_rel = ""
        agency_id: int | None = None
        evidence = "{}"
        if etype == T_EXPIRED:
            expressed_by, method, recorded_by = "system", "system", "system"
        elif delay <= WEB_DELAY_MIN:
            expressed_by, method = "subject", "web"
            recorded_by = f"account:{subject + 1}"
        else:
            r = rng.random()
            expressed_by = "guardian" if r < 0.04 else "staff-assisted" if r < 0.8 else "subject"
            method = rng.choice(methods)
            recorded_by = f"staff:bench-officer-{rng.randint(1, 40)}"
            agency_id = ref.police_id
            if expressed_by == "guardian":
                guardian_name, guardian_rel = "Jamie Walsh", "parent"
            if etype in (T_GIVEN, T_RENEWED, T_REFUSED):
                witness = rng.randint(1000, 9999)
                evidence = f'{{"typed_name":"bench","witness":"PC {witness}"}}'
        yield (uuid.UUID(int=rng.getrandbits(128), version=4), plan.subject_ids[subject],
               ref.slot_notice[slot], ref.slot_version[slot], TYPES[etype], occurred, recorded,
               valid_until, expressed_by, guardian_name, guardian_rel, method, "en",
               recorded_by, agency_id, evidence)


# --- Writers -------------------------------------------------------------------------------

@dataclass
class SeedReport:
    """How long seeding took and how many rows it wrote."""

    generate_s: float = 0.0
    load_s: float = 0.0
    analyze_s: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)
    vsr_permit_share: float = 0.0

    @property
    def total_rows(self) -> int:
        """Rows written, all tables."""
        return sum(self.rows.values())

    @property
    def total_s(self) -> float:
        """Generation, loading and ANALYZE."""
        return self.generate_s + self.load_s + self.analyze_s

    def as_json(self) -> dict[str, Any]:
        """For the results file."""
        return {"generate_s": round(self.generate_s, 2), "load_s": round(self.load_s, 2),
                "analyze_s": round(self.analyze_s, 2), "total_s": round(self.total_s, 2),
                "rows": self.rows, "total_rows": self.total_rows,
                "rows_per_s_load": round(self.total_rows / self.load_s) if self.load_s else 0,
                "rows_per_s_total": round(self.total_rows / self.total_s)
                if self.total_s else 0,
                "vsr_permit_share": round(self.vsr_permit_share, 4)}


def _chunks(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def load_sqlite(engine: Engine, plan: Plan, ref: RefData, *, chunk: int = 20_000,
                rows_per_tx: int = 1_000_000, progress: Callable[[str], None] = print
                ) -> dict[str, int]:
    """Core ``insert()`` executemany in large chunks, about a million rows per transaction.

    ``engine`` should be a seeding engine (``synchronous=OFF`` is fine: the file is thrown
    away if seeding fails); the app later opens the same file with its durable defaults.
    """

    @event.listens_for(engine, "connect")
    def _big_cache(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA cache_size=-2000000")  # 2 GB of page cache while loading
        cursor.execute("PRAGMA temp_store=MEMORY")
        # Probed per row otherwise; PRAGMA foreign_key_check below checks them all at once.
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.close()

    counts: dict[str, int] = {}
    specs: list[tuple[str, Any, tuple[str, ...], Iterator[tuple[Any, ...]]]] = [
        ("subjects", Subject.__table__, SUBJECT_COLUMNS, subject_rows(plan, ref)),
        ("holdings", Holding.__table__, HOLDING_COLUMNS, holding_rows(plan, ref)),
        ("holding_categories", holding_categories, ("holding_id", "category_id"),
         holding_category_rows(plan, ref)),
        ("consent_events", ConsentEvent.__table__, EVENT_COLUMNS, event_rows(plan, ref)),
    ]
    with engine.connect() as conn:
        for name, table, columns, rows in specs:
            started = time.perf_counter()
            n = 0
            tx = conn.begin()
            in_tx = 0
            for part in _chunks(rows, chunk):
                conn.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in part])
                n += len(part)
                in_tx += len(part)
                if in_tx >= rows_per_tx:
                    tx.commit()
                    tx = conn.begin()
                    in_tx = 0
            tx.commit()
            counts[name] = n
            took = time.perf_counter() - started
            progress(f"  {name}: {n:,} rows in {took:.1f} s ({n / max(took, 1e-9):,.0f}/s)")
        started = time.perf_counter()
        for name, *_rest in specs:
            bad = conn.exec_driver_sql(f"PRAGMA foreign_key_check({name})").fetchall()
            if bad:
                raise RuntimeError(f"{name}: {len(bad)} rows break a foreign key: {bad[:3]}")
        progress(f"  foreign keys checked in {time.perf_counter() - started:.1f} s")
    return counts


def _pg_line(row: tuple[Any, ...]) -> str:
    """One COPY text-format line (the generated values hold no tab, newline or backslash)."""
    return "\t".join([v if type(v) is str else "\\N" if v is None else str(v)
                      for v in row]) + "\n"


# Bulk loading with every secondary index and foreign key in place costs a B-tree insert and
# a foreign-key probe per row; the PostgreSQL loader drops them first and restores the very
# same definitions (pg_get_constraintdef, pg_indexes) afterwards, validated in bulk.
_PG_DEFERRED = ("holdings", "holding_categories", "consent_events")


def _pg_detach(cur: Any, tables: tuple[str, ...]) -> list[str]:
    """Drop foreign keys, unique constraints and plain indexes; return the statements that
    restore them, in a valid order."""
    indexes: list[str] = []
    uniques: list[str] = []
    foreign: list[str] = []
    for table in tables:
        rows = cur.execute(
            "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype IN ('f', 'u')", (table,)).fetchall()
        constraint_names = {r[0] for r in rows}
        for name, kind, definition in rows:
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            restore = f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
            (foreign if kind == "f" else uniques).append(restore)
        pkey = cur.execute("SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass "
                           "AND contype = 'p'", (table,)).fetchone()
        for name, definition in cur.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                "AND tablename = %s", (table,)).fetchall():
            if name in constraint_names or (pkey and name == pkey[0]):
                continue
            cur.execute(f'DROP INDEX "{name}"')
            indexes.append(definition)
    return indexes + uniques + foreign


def load_postgresql(conninfo: str, plan: Plan, ref: RefData, *, chunk: int = 50_000,
                    progress: Callable[[str], None] = print) -> dict[str, int]:
    """psycopg 3 ``COPY ... FROM STDIN`` per table, in one transaction."""
    import psycopg

    counts: dict[str, int] = {}
    specs: list[tuple[str, tuple[str, ...], Iterator[tuple[Any, ...]]]] = [
        ("subjects", SUBJECT_COLUMNS, subject_rows(plan, ref, aware=False)),
        ("holdings", HOLDING_COLUMNS, holding_rows(plan, ref, aware=False)),
        ("holding_categories", ("holding_id", "category_id"), holding_category_rows(plan, ref)),
        ("consent_events", EVENT_COLUMNS, event_rows(plan, ref, aware=False)),
    ]
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        # Nothing here needs to survive a crash: the database is rebuilt on the next run.
        cur.execute("SET synchronous_commit = off")
        cur.execute("SET maintenance_work_mem = '1GB'")
        restore = _pg_detach(cur, _PG_DEFERRED)
        for name, columns, rows in specs:
            started = time.perf_counter()
            n = 0
            with cur.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                for part in _chunks(rows, chunk):
                    copy.write("".join(map(_pg_line, part)))
                    n += len(part)
            counts[name] = n
            took = time.perf_counter() - started
            progress(f"  {name}: {n:,} rows in {took:.1f} s ({n / max(took, 1e-9):,.0f}/s)")
        started = time.perf_counter()
        for statement in restore:
            cur.execute(statement)
        progress(f"  restored {len(restore)} indexes and constraints in "
                 f"{time.perf_counter() - started:.1f} s")
        # Holding ids were given explicitly: move the sequence past them.
        cur.execute("SELECT setval(pg_get_serial_sequence('holdings', 'id'), "
                    "(SELECT max(id) FROM holdings))")
        conn.commit()
    return counts
