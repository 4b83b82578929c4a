"""Invariant 10: migrations build the models' schema from empty, and round-trip, on both engines."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from portal import migrate
from portal.database import Base, make_engine


def _diffs(url: str) -> list[Any]:
    engine = make_engine(url, sqlite_immediate=False)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    return list(diffs)


def _empty(url: str, backend: str) -> None:
    engine = make_engine(url)
    if backend == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def test_upgrade_from_empty_matches_the_models(backend: str, db_url: str, tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/empty.sqlite3" if backend == "sqlite" else db_url
    _empty(url, backend)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    assert _diffs(url) == []


def test_downgrade_then_upgrade_round_trips(backend: str, db_url: str, tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/rt.sqlite3" if backend == "sqlite" else db_url
    _empty(url, backend)
    engine = make_engine(url)
    script = ScriptDirectory.from_config(migrate.alembic_config(engine))
    revisions = [r.revision for r in script.walk_revisions("base", "heads")][::-1]
    migrate.upgrade(engine)
    # Step down one revision at a time to empty, then back up: every step must work.
    for _ in revisions:
        migrate.downgrade(engine, "-1")
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set()
    migrate.upgrade(engine)
    engine.dispose()
    assert _diffs(url) == []


def test_the_staff_views_index_may_be_built_ahead_of_its_migration(
        backend: str, db_url: str, tmp_path: Any) -> None:
    # Given a database at 0012 whose operator built 0013's index without blocking appends
    url = f"sqlite:///{tmp_path}/ahead.sqlite3" if backend == "sqlite" else db_url
    _empty(url, backend)
    engine = make_engine(url)
    migrate.upgrade(engine, "0012")
    concurrently = "CONCURRENTLY " if backend == "postgresql" else ""
    with engine.connect() as conn:
        if backend == "postgresql":
            conn.commit()
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text(f"CREATE INDEX {concurrently}ix_audit_entries_subject_view ON "
                          "audit_entries (subject_id, id) WHERE action = 'subject.view'"))
        conn.commit()
    # When the migrations run, Then they keep it and end with the models' schema
    migrate.upgrade(engine)
    engine.dispose()
    assert _diffs(url) == []


def test_single_head() -> None:
    engine = make_engine("sqlite://")
    script = ScriptDirectory.from_config(migrate.alembic_config(engine))
    assert len(script.get_heads()) == 1


def test_rebuilt_tables_keep_their_cache_triggers(session: Any, demo: Any) -> None:
    """0006 rebuilds tables on SQLite (batch mode), which drops triggers: they must be back."""
    from sqlalchemy import update

    from consent.models import ReferenceGeneration
    from portal.reference.models import DataCategory, Purpose, SharingAgreement

    def generation() -> int:
        session.rollback()
        return int(session.scalar(select(ReferenceGeneration.value)))

    for model in (DataCategory, Purpose, SharingAgreement):
        before = generation()
        session.execute(update(model).values(name="x") if model is not SharingAgreement
                        else update(model).values(title="x"))
        session.commit()
        assert generation() > before, model.__tablename__


def test_sar_views_logged_before_0015_are_shown_to_the_person(
        backend: str, db_url: str, tmp_path: Any) -> None:
    """0015 copies the SAR views the audit log already holds into sar_views, which the
    person's activity page reads: none of them stays invisible to the person."""
    import datetime as dt

    from consent import demo
    from portal import audit
    from portal.audit import Actor
    from portal.database import make_sessionmaker
    from portal.identity.models import Role
    from sar import operations as sar_ops
    from sar.models import SarView
    from tests.identity_helpers import make_staff

    url = f"sqlite:///{tmp_path}/views.sqlite3" if backend == "sqlite" else db_url
    _empty(url, backend)
    engine = make_engine(url)
    migrate.upgrade(engine)
    session = make_sessionmaker(engine)()
    # Given a request, and two views of it (one of its bundle) logged the old way only
    demo.seed(session)
    staff = make_staff(session, "victim-care", Role.SAR_OFFICER)
    sar = sar_ops.file_request(session, sar_ops.NewRequest(
        "Morgan Lee", "morgan@example.org", "Morgan Lee", identity_method="in-person"),
        actor=Actor("system", "t"), today=dt.date(2026, 11, 2))
    who = Actor("staff", str(staff.id), staff.agency_id)
    audit.record(session, "sar.viewed", who, object_type="sar", object_id=str(sar.id),
                 details={"what": "request"})
    session.commit()
    session.close()
    # When 0015's copy runs (a downgrade with data is not what this is about)
    _run_0015_copy(engine)
    session = make_sessionmaker(engine)()
    # Then the view is in sar_views, as an officer of the staff member's agency
    [view] = session.scalars(select(SarView)).all()
    assert (view.request_id, view.staff_id, view.agency_id, view.role, view.what) == (
        sar.id, staff.id, staff.agency_id, "sar-officer", "request")
    session.close()
    engine.dispose()


def _run_0015_copy(engine: Any) -> None:
    import importlib.util
    from pathlib import Path

    from alembic.operations import Operations

    path = Path(migrate.__file__).parent.parent / "migrations/versions/0015_sar_staff_access.py"
    spec = importlib.util.spec_from_file_location("migration_0015", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
        module._copy_logged_views()
