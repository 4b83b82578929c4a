"""A group commit's statements: its audit entries and the decisions linked to them, appended by
``portal.audit.Appender``, the keys it used marked as used, one commit (through the driver: the
ORM's fixed cost per transaction was most of the cost of a small group)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Engine, Table

from consent.models import CheckDecision
from portal import audit
from portal.audit import NewEntry, Prepared
from portal.database import utcnow
from portal.reference import apikeys

_DECISION_COLUMNS = ("id", "evaluated_at", "agency_id", "api_client_id", "recipient_agency_id",
                     "purpose_id", "subject_id", "subject_ref", "categories", "decision",
                     "basis", "reason", "result", "valid_until", "audit_id")  # audit_id last
# Each decision names its audit entry in its last column.
DECISIONS = audit.Linked(cast(Table, CheckDecision.__table__), _DECISION_COLUMNS)


class _Writer:
    """The group commit's statements: the appender's for the entries and decisions, then the
    keys' last use, then COMMIT."""

    def __init__(self, engine_: Engine, chains: int) -> None:
        self._engine = engine_
        self.postgresql = engine_.dialect.name == "postgresql"
        # A check's write on PostgreSQL is one statement, its key's last use in it too.
        also = apikeys.pg_mark_used_clause(engine_.dialect) if self.postgresql else ""
        self.appender = audit.Appender(engine_.dialect, chains=chains, linked=DECISIONS,
                                       also=also)

    def prepare(self, entries: list[NewEntry], rows: list[dict[str, Any]]) -> Prepared:
        """The entries' and decisions' values in the driver's form, all but what the chain's
        head decides (sequence numbers, hashes, the entries' ids)."""
        return self.appender.prepare(entries, rows)

    def _commit(self, conn: Any) -> None:
        if self.postgresql:
            with conn.cursor() as cursor:
                cursor.execute("COMMIT")  # the transaction the appender opened
        else:
            conn.commit()

    def _touch(self, cursor: Any, touched: list[int]) -> None:
        if touched:
            cursor.execute(apikeys.mark_used_sql(self.appender.mark, len(touched)),
                           (self.appender.when(utcnow()), *touched))

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
            appender = self.appender
            how = appender.strategy(len(prepared.tails), one_statement=len(touched) <= 1)
            if how == audit.STATEMENT:  # committed when it returns
                also = (appender.when(utcnow()), touched[0]) if touched else ()
                appender.append(cursor, prepared, how, also=also)
                return
            appender.append(cursor, prepared, how)
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
