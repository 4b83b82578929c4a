"""The person's facts for a check: one read, no write transaction, with the generation of the
reference data in the same statement (raw DB-API: this runs on every check)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

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
