"""Figures on subject access requests for the partnership board and the ICO.

How many requests were received, are open, are overdue now, were answered on time or late,
extended or refused (with the reasons given), by month of receipt and by agency. A request
is on time when it was answered (its bundle released) or refused by its deadline, that
deadline moved by every pause and any extension as the legal clock says (``sar.clock``);
one refused before its clock started is on time. A request counts for every agency that had
a part in it (a task). Only counts leave this module: no reference, no name of a person.

``summarise`` and ``chart`` are pure functions of plain values; ``load`` reads the requests
received in a period, seen by one agency or by the whole partnership.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, selectinload

from portal import dates
from portal.identity.models import Role, StaffUser
from portal.reference.models import Agency
from sar import clock
from sar import operations as ops
from sar.models import SarRequest, SarTask, Status

# A period longer than this is refused rather than drawn as an unreadable chart.
MAX_MONTHS = 36


class Outcome(enum.StrEnum):
    """Where a request stands against its deadline."""

    ON_TIME = "on-time"  # closed by the deadline
    LATE = "late"  # closed after it
    OPEN = "open"  # open, the deadline not passed (or the clock not started)
    OVERDUE = "overdue"  # open, the deadline passed
    UNDATED = "undated"  # closed, with no recorded date of closing


@dataclass(frozen=True, slots=True)
class Case:
    """One request as the reports see it: dates, decisions and the agencies with a part."""

    received_on: dt.date
    open: bool
    # The deadline: at closing for a closed request, today's for an open one (None until
    # the clock starts).
    due: dt.date | None
    answered_on: dt.date | None = None
    extended: bool = False
    extension_reason: str = ""
    refused: bool = False
    refusal_reason: str = ""
    paused: bool = False
    # Each agency with a task, and whether its part was (or is now) late.
    agencies: Mapping[int, bool] = field(default_factory=dict)


def outcome(case: Case, today: dt.date) -> Outcome:
    """The request's standing against its deadline, today."""
    if case.open:
        return Outcome.OVERDUE if case.due is not None and case.due < today else Outcome.OPEN
    if case.due is None:
        return Outcome.ON_TIME  # refused (or closed) before the clock started
    if case.answered_on is None:
        return Outcome.UNDATED
    return Outcome.ON_TIME if case.answered_on <= case.due else Outcome.LATE


@dataclass(slots=True)
class Figures:
    """The counts of one group of requests (a month, an agency, or all)."""

    received: int = 0
    on_time: int = 0
    late: int = 0
    undated: int = 0
    open: int = 0  # still open, overdue or not
    overdue: int = 0
    extended: int = 0
    refused: int = 0
    paused: int = 0
    tasks_late: int = 0  # an agency's parts answered (or still unanswered) after their due date

    @property
    def closed(self) -> int:
        """Requests answered or refused."""
        return self.on_time + self.late + self.undated

    @property
    def open_in_time(self) -> int:
        """Requests still open whose deadline has not passed."""
        return self.open - self.overdue

    @property
    def on_time_percent(self) -> int | None:
        """Whole percent of dated closed requests closed on time, rounded down (so 100 only
        when none was late); None when none closed."""
        judged = self.on_time + self.late
        return None if not judged else math.floor(100 * self.on_time / judged)

    def add(self, case: Case, result: Outcome) -> None:
        """Count one request."""
        self.received += 1
        if result is Outcome.ON_TIME:
            self.on_time += 1
        elif result is Outcome.LATE:
            self.late += 1
        elif result is Outcome.UNDATED:
            self.undated += 1
        else:
            self.open += 1
            self.overdue += result is Outcome.OVERDUE
        self.extended += case.extended
        self.refused += case.refused
        self.paused += case.paused


@dataclass(frozen=True, slots=True)
class Period:
    """Whole months of receipt, from ``first`` to ``last`` (each the first of its month)."""

    first: dt.date
    last: dt.date

    @property
    def end(self) -> dt.date:
        """The period's last day."""
        return clock.add_months(self.last, 1) - dt.timedelta(days=1)

    def months(self) -> list[dt.date]:
        """The first day of each month in the period, in order."""
        out, month = [], self.first
        while month <= self.last:
            out.append(month)
            month = clock.add_months(month, 1)
        return out


def months_between(first: dt.date, last: dt.date) -> int:
    """How many calendar months from ``first``'s to ``last``'s, both included."""
    return (last.year - first.year) * 12 + last.month - first.month + 1


def last_twelve_months(today: dt.date) -> Period:
    """The default period: this month and the eleven before it."""
    this = today.replace(day=1)
    return Period(clock.add_months(this, -11), this)


@dataclass(frozen=True, slots=True)
class AgencyRow:
    """An agency as a report names it."""

    id: int
    name: str


@dataclass(slots=True)
class Report:
    """Every figure of one period."""

    period: Period
    today: dt.date
    total: Figures
    months: list[tuple[dt.date, Figures]]
    agencies: list[tuple[AgencyRow, Figures]]
    # Requests with no agency's part (the clock not started, or nobody holds records);
    # None in an agency's own report.
    no_agency: Figures | None
    extension_reasons: list[tuple[str, int]]
    refusal_reasons: list[tuple[str, int]]


def _reasons(texts: Iterable[str]) -> list[tuple[str, int]]:
    # The same reason typed with other spacing or case is the same reason; the first
    # spelling seen is shown.
    counts: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for text in texts:
        clean = " ".join(text.split())
        if clean:
            key = clean.casefold()
            shown.setdefault(key, clean)
            counts[key] += 1
    return sorted(((shown[k], n) for k, n in counts.items()), key=lambda r: (-r[1], r[0]))


def summarise(cases: Iterable[Case], *, period: Period, today: dt.date,
              agencies: Sequence[AgencyRow], whole_partnership: bool = True) -> Report:
    """The report of these requests: totals, by month of receipt and by agency."""
    total = Figures()
    by_month = {m: Figures() for m in period.months()}
    by_agency = {a.id: Figures() for a in agencies}
    no_agency = Figures() if whole_partnership else None
    extensions: list[str] = []
    refusals: list[str] = []
    for case in cases:
        result = outcome(case, today)
        total.add(case, result)
        month = by_month.get(case.received_on.replace(day=1))
        if month is not None:
            month.add(case, result)
        for agency_id, task_late in case.agencies.items():
            figures = by_agency.get(agency_id)
            if figures is not None:
                figures.add(case, result)
                figures.tasks_late += task_late
                total.tasks_late += task_late
                if month is not None:
                    month.tasks_late += task_late
        if not case.agencies and no_agency is not None:
            no_agency.add(case, result)
        if case.extended:
            extensions.append(case.extension_reason)
        if case.refused:
            refusals.append(case.refusal_reason)
    if not whole_partnership:
        # The reasons are the coordinators' words about whole requests: an agency's own
        # report counts its extensions and refusals without them.
        extensions, refusals = [], []
    return Report(period=period, today=today, total=total, months=list(by_month.items()),
                  agencies=[(a, by_agency[a.id]) for a in agencies], no_agency=no_agency,
                  extension_reasons=_reasons(extensions), refusal_reasons=_reasons(refusals))


# The chart: stacked horizontal bars, one a month, in SVG user units.

# The outcomes a month's bar is split into, left to right.
STACK = (Outcome.ON_TIME, Outcome.LATE, Outcome.OPEN, Outcome.OVERDUE)
CHART_WIDTH = 640
LABEL_WIDTH = 104  # the month's name, right-aligned before the bar
BAR_AREA = 470
ROW_HEIGHT = 40
BAR_HEIGHT = 28
TOP = 8
AXIS_HEIGHT = 52  # the ticks' numbers and the axis's name
# The narrowest segment that has room for its count written on it.
MIN_LABELLED = 30


@dataclass(frozen=True, slots=True)
class Segment:
    """One outcome's part of a bar."""

    outcome: Outcome
    count: int
    x: float
    width: float
    labelled: bool


@dataclass(frozen=True, slots=True)
class Bar:
    """One month's bar."""

    month: dt.date
    y: float
    total: int
    segments: list[Segment]
    end: float  # where the bar ends (its total is written after it)


@dataclass(frozen=True, slots=True)
class Chart:
    """Where everything of the chart goes."""

    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[int, float]]  # axis value and its x
    axis_y: float
    bar_height: int
    label_x: int
    bar_x: int


def _counts(figures: Figures) -> dict[Outcome, int]:
    return {Outcome.ON_TIME: figures.on_time, Outcome.LATE: figures.late + figures.undated,
            Outcome.OPEN: figures.open_in_time, Outcome.OVERDUE: figures.overdue}


def nice_ceiling(value: int) -> int:
    """The axis's end: the smallest of 1, 2, 5 times a power of ten (at least 5) that
    holds ``value``."""
    top = 5
    while top < value:
        magnitude = 10 ** (len(str(top)) - 1)
        leading = top // magnitude
        top = (2 if leading == 1 else 5 if leading == 2 else 10) * magnitude
    return top


def chart(report: Report) -> Chart:
    """The months' stacked bars (on time, late, open, overdue) on one scale."""
    top = nice_ceiling(max((f.received for _m, f in report.months), default=0))
    scale = BAR_AREA / top
    bars = []
    for index, (month, figures) in enumerate(report.months):
        x = float(LABEL_WIDTH)
        segments = []
        # Undated closed requests are drawn with the late ones: they were not shown on time.
        for kind, count in _counts(figures).items():
            if count:
                width = count * scale
                segments.append(Segment(kind, count, x, width, width >= MIN_LABELLED))
                x += width
        bars.append(Bar(month, TOP + index * ROW_HEIGHT, figures.received, segments, x))
    axis_y = TOP + len(bars) * ROW_HEIGHT
    step = top // 5
    ticks = [(v, LABEL_WIDTH + v * scale) for v in range(0, top + 1, step)]
    return Chart(width=CHART_WIDTH, height=int(axis_y + AXIS_HEIGHT), bars=bars, ticks=ticks,
                 axis_y=axis_y, bar_height=BAR_HEIGHT, label_x=LABEL_WIDTH - 8,
                 bar_x=LABEL_WIDTH)


@dataclass(frozen=True, slots=True)
class RateBar:
    """One agency's on-time rate."""

    name: str
    y: float
    percent: int
    on_time: int
    judged: int
    width: float


@dataclass(frozen=True, slots=True)
class RateChart:
    """The on-time rate of each agency with a closed request, on a 0 to 100 percent scale,
    with the partnership's; the agencies with none are named beside it."""

    width: int
    height: int
    bars: list[RateBar]
    without: list[str]
    ticks: list[tuple[int, float]]
    axis_y: float
    bar_height: int
    value_x: int
    overall: int | None
    overall_x: float | None


RATE_AREA = 470
RATE_ROW = 62


def agency_chart(report: Report) -> RateChart:
    """A bar per agency: the percent of its closed requests closed on time."""
    scale = RATE_AREA / 100
    bars: list[RateBar] = []
    without: list[str] = []
    for agency, figures in report.agencies:
        percent = figures.on_time_percent
        if percent is None:
            without.append(agency.name)
            continue
        bars.append(RateBar(agency.name, TOP + len(bars) * RATE_ROW, percent, figures.on_time,
                            figures.on_time + figures.late, percent * scale))
    axis_y = TOP + len(bars) * RATE_ROW
    overall = report.total.on_time_percent if report.no_agency is not None else None
    return RateChart(width=CHART_WIDTH, height=int(axis_y + AXIS_HEIGHT), bars=bars,
                     without=without, ticks=[(v, v * scale) for v in range(0, 101, 25)],
                     axis_y=axis_y, bar_height=BAR_HEIGHT, value_x=RATE_AREA + 12,
                     overall=overall, overall_x=None if overall is None else overall * scale)


# Reading the requests.

def sees_everything(staff: StaffUser) -> bool:
    """Partnership coordinators and admins see every agency's figures; an agency's SAR
    officer sees only their own agency's."""
    return bool(staff.role_set & {Role.SAR_COORDINATOR, Role.PARTNERSHIP_ADMIN})


def _late(task: SarTask, today: dt.date, request_open: bool) -> bool:
    if task.supplied_at is not None:
        return dates.today(task.supplied_at) > task.due_on
    # A part still unanswered when its request was refused was no longer needed.
    return request_open and task.status == "open" and task.due_on < today


def case_of(sar: SarRequest, today: dt.date) -> Case:
    """One request as the reports see it."""
    is_open = sar.status in ops.OPEN_STATUSES
    when = today if is_open else (sar.answered_on or today)
    return Case(received_on=sar.received_on, open=is_open, due=ops.due(sar, when),
                answered_on=None if is_open else sar.answered_on,
                extended=sar.extension_months > 0, extension_reason=sar.extension_reason,
                refused=sar.status == Status.REFUSED, refusal_reason=sar.refusal_reason,
                paused=bool(sar.pauses),
                agencies={t.agency_id: _late(t, today, is_open) for t in sar.tasks})


def load(session: Session, *, period: Period, today: dt.date,
         agency_id: int | None = None) -> tuple[list[Case], list[AgencyRow]]:
    """The requests received in the period (only those an agency had a part in, when
    ``agency_id`` is given), and the agencies to report on."""
    stmt = (select(SarRequest)
            .where(SarRequest.received_on >= period.first, SarRequest.received_on <= period.end)
            .options(selectinload(SarRequest.tasks), selectinload(SarRequest.pauses)))
    agencies = select(Agency).order_by(Agency.name)
    if agency_id is not None:
        stmt = stmt.where(exists().where(SarTask.request_id == SarRequest.id,
                                         SarTask.agency_id == agency_id))
        agencies = agencies.where(Agency.id == agency_id)
    cases = [case_of(sar, today) for sar in session.scalars(stmt)]
    rows = [AgencyRow(a.id, a.name) for a in session.scalars(agencies)]
    if agency_id is not None:
        # An agency's own report counts only its own part of each request.
        cases = [replace(c, agencies={agency_id: c.agencies[agency_id]}) for c in cases]
    return cases, rows


def report_for(session: Session, staff: StaffUser, *, period: Period,
               today: dt.date) -> Report:
    """The report this staff member may see: the partnership's, or their agency's."""
    everything = sees_everything(staff)
    cases, agencies = load(session, period=period, today=today,
                           agency_id=None if everything else staff.agency_id)
    return summarise(cases, period=period, today=today, agencies=agencies,
                     whole_partnership=everything)


CSV_COLUMNS = ("group", "label", "received", "open", "overdue", "closed", "answered_on_time",
               "closed_late", "closed_undated", "on_time_percent", "extended", "refused",
               "paused", "agency_parts_late", "count")


def csv_rows(report: Report) -> list[dict[str, object]]:
    """The report as CSV rows: the total, each month, each agency, then each reason."""

    def row(group: str, label: str, f: Figures) -> dict[str, object]:
        return {"group": group, "label": label, "received": f.received, "open": f.open,
                "overdue": f.overdue, "closed": f.closed, "answered_on_time": f.on_time,
                "closed_late": f.late, "closed_undated": f.undated,
                "on_time_percent": f.on_time_percent, "extended": f.extended,
                "refused": f.refused, "paused": f.paused, "agency_parts_late": f.tasks_late}

    period = f"{report.period.first:%Y-%m} to {report.period.last:%Y-%m}"
    rows = [row("total", period, report.total)]
    rows += [row("month", f"{m:%Y-%m}", f) for m, f in report.months]
    rows += [row("agency", a.name, f) for a, f in report.agencies]
    if report.no_agency is not None:
        rows.append(row("no agency", "", report.no_agency))
    rows += [{"group": "extension reason", "label": text, "count": n}
             for text, n in report.extension_reasons]
    rows += [{"group": "refusal reason", "label": text, "count": n}
             for text, n in report.refusal_reasons]
    return rows
