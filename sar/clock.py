"""The legal clock of a subject access request (DESIGN §9, ICO guidance).

Day one is the day of receipt (or of receiving proof of identity or authority, when it was
needed), working day or not. The deadline is the same date in the next month, the last day of
that month where the date does not exist, moved to the next working day where it falls on a
weekend or a bank holiday of the nation whose law applies. Pauses (UK GDPR Art 12A: waiting
for identity, for clarification or for a fee) move the deadline by the days paused; an
extension adds up to two further months. Agencies' internal due dates fall on working days
too.

Everything here is a pure function of dates: no database, no clock reads.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass

import holidays

# The one "today" of the legal clock: the UK date, whatever the server's time zone.
from portal.dates import today as today
from portal.errors import Invalid

NATIONS = ("england-and-wales", "scotland", "northern-ireland")
# The holidays package names the UK's subdivisions by ISO 3166-2 codes; England and Wales
# share one calendar.
_SUBDIVISION = {"england-and-wales": "ENG", "scotland": "SCT", "northern-ireland": "NIR"}
MAX_EXTENSION_MONTHS = 2


@functools.lru_cache(maxsize=8)
def _calendar(nation: str) -> holidays.HolidayBase:
    return holidays.country_holidays("GB", subdiv=_SUBDIVISION[nation])


def _check_nation(nation: str) -> None:
    if nation not in _SUBDIVISION:
        raise Invalid(f"nation must be one of {', '.join(NATIONS)}", field="nation")


def add_months(day: dt.date, months: int) -> dt.date:
    """The same date ``months`` later, or that month's last day where the date does not exist."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def is_working_day(day: dt.date, nation: str) -> bool:
    """True unless the day is a Saturday, a Sunday or a bank holiday in that nation."""
    _check_nation(nation)
    return day.weekday() < 5 and day not in _calendar(nation)


def next_working_day(day: dt.date, nation: str) -> dt.date:
    """The day itself if it is a working day, else the first working day after it."""
    while not is_working_day(day, nation):
        day += dt.timedelta(days=1)
    return day


def due_date(received: dt.date, nation: str) -> dt.date:
    """The statutory deadline for a request received (or made valid) on ``received``."""
    _check_nation(nation)
    return next_working_day(add_months(received, 1), nation)


@dataclass(frozen=True, slots=True)
class Pause:
    """A stop of the clock: from the day it was asked for until the day the answer arrived."""

    start: dt.date
    end: dt.date | None = None  # None: still paused

    def days(self, today: dt.date) -> int:
        """Days this pause holds the clock, counting an open pause up to ``today``."""
        return max(0, ((self.end or today) - self.start).days)


def paused_days(pauses: Iterable[Pause], today: dt.date) -> int:
    """Total days the clock has stood still."""
    return sum(p.days(today) for p in pauses)


def effective_due(start: dt.date, nation: str, *, pauses: Iterable[Pause] = (),
                  extension_months: int = 0, today: dt.date | None = None) -> dt.date:
    """The deadline after pauses and any extension.

    The calendar deadline (one month, plus the extension) is moved by the days paused, then
    rolled to the next working day; an open pause counts up to ``today``.
    """
    _check_nation(nation)
    if not 0 <= extension_months <= MAX_EXTENSION_MONTHS:
        raise Invalid("an extension is of one or two further months", field="months")
    raw = add_months(start, 1 + extension_months)
    held = paused_days(pauses, today or start)
    return next_working_day(raw + dt.timedelta(days=held), nation)


def check_extension(start: dt.date, nation: str, *, months: int, reason: str,
                    already: int, pauses: Iterable[Pause] = (), today: dt.date) -> int:
    """Validate an extension and return the request's total extension in months.

    Allowed only for a stated reason (complex or numerous requests), while the first month
    still runs, and to at most two further months in all. The notice to the person is made
    with the extension and proved by its delivery (``sar.operations.notice_states``).
    """
    if months not in (1, 2):
        raise Invalid("an extension is of one or two further months", field="months")
    if not reason.strip():
        raise Invalid("give the reason for the extension", field="reason")
    if already + months > MAX_EXTENSION_MONTHS:
        raise Invalid("the clock can be extended by at most two further months in all",
                      field="months")
    first_month_ends = effective_due(start, nation, pauses=pauses, today=today)
    if today > first_month_ends:
        raise Invalid("an extension must be made within the first month", field="months")
    return already + months


def check_refusal(reason: str) -> str:
    """Validate a refusal as manifestly unfounded or excessive: the reasons are required."""
    if not reason.strip():
        raise Invalid("give the reasons for refusing the request", field="reason")
    return reason.strip()


def days_left(due: dt.date, today: dt.date) -> int:
    """Calendar days until the deadline (negative when overdue)."""
    return (due - today).days
