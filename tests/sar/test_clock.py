"""The legal clock (DESIGN §9) against worked examples and properties."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.errors import Invalid
from sar import clock
from sar.clock import Pause, due_date, effective_due

D = dt.date
EW, SCO, NI = "england-and-wales", "scotland", "northern-ireland"


@pytest.mark.parametrize(("received", "nation", "expected"), [
    (D(2026, 9, 3), EW, D(2026, 10, 5)),      # Saturday 3 Oct -> Monday 5 Oct
    (D(2026, 9, 8), EW, D(2026, 10, 8)),      # Thursday: stays
    (D(2026, 1, 31), EW, D(2026, 3, 2)),      # no 31 Feb; Saturday 28 Feb -> Monday 2 Mar
    (D(2028, 1, 31), EW, D(2028, 2, 29)),     # leap year: Tuesday 29 Feb 2028
    (D(2027, 1, 31), EW, D(2027, 3, 1)),      # Sunday 28 Feb 2027 -> Monday 1 Mar
    (D(2026, 3, 31), EW, D(2026, 4, 30)),     # 31 Mar -> 30 Apr (Thursday)
    (D(2026, 8, 31), EW, D(2026, 9, 30)),     # 31 Aug -> 30 Sep
    (D(2026, 10, 31), EW, D(2026, 11, 30)),   # Monday 30 Nov: a working day in England
    (D(2026, 10, 31), SCO, D(2026, 12, 1)),   # St Andrew's Day in Scotland -> Tuesday
    (D(2026, 2, 17), NI, D(2026, 3, 18)),     # St Patrick's Day in Northern Ireland
    (D(2026, 2, 17), EW, D(2026, 3, 17)),     # ...but not in England and Wales
    (D(2026, 6, 12), NI, D(2026, 7, 14)),     # Sun 12 Jul; Mon 13 Jul observed -> Tue 14
    (D(2026, 6, 13), EW, D(2026, 7, 13)),     # Monday 13 July is working in England
    (D(2026, 3, 6), EW, D(2026, 4, 7)),       # Easter Monday 6 Apr 2026 in England
    (D(2026, 3, 6), SCO, D(2026, 4, 6)),      # Easter Monday is not a holiday in Scotland
    (D(2026, 11, 25), EW, D(2026, 12, 29)),   # Fri 25 Dec, Sat, Sun, Mon 28 observed
    (D(2026, 12, 1), EW, D(2027, 1, 4)),      # Fri 1 Jan 2027 -> Monday 4 Jan
    (D(2026, 12, 1), SCO, D(2027, 1, 5)),     # Scotland: 2 Jan (Sat) observed Mon 4 Jan
    (D(2026, 12, 2), SCO, D(2027, 1, 5)),
    (D(2026, 7, 3), SCO, D(2026, 8, 4)),      # first Monday of August in Scotland
    (D(2026, 7, 31), EW, D(2026, 9, 1)),      # late summer holiday 31 Aug in England
    (D(2026, 7, 31), SCO, D(2026, 8, 31)),    # ...but not in Scotland
])
def test_worked_examples(received: dt.date, nation: str, expected: dt.date) -> None:
    assert due_date(received, nation) == expected


def test_day_one_is_the_day_of_receipt_even_on_a_weekend() -> None:
    # Given a request received on Saturday 3 October 2026
    # Then the deadline is 3 November (a Tuesday), not counted from Monday
    assert due_date(D(2026, 10, 3), EW) == D(2026, 11, 3)


def test_unknown_nation_is_refused() -> None:
    with pytest.raises(Invalid):
        due_date(D(2026, 1, 1), "wessex")


def test_pause_moves_the_deadline_by_the_days_paused() -> None:
    # Given a request started 2 March 2026 (due Thursday 2 April)
    start = D(2026, 3, 2)
    assert effective_due(start, EW) == D(2026, 4, 2)
    # When the clock stood still 10 to 15 March (5 days)
    paused = [Pause(D(2026, 3, 10), D(2026, 3, 15))]
    # Then the deadline is Tuesday 7 April, five days later
    assert effective_due(start, EW, pauses=paused) == D(2026, 4, 7)


def test_an_open_pause_counts_up_to_today() -> None:
    start = D(2026, 3, 2)
    open_pause = [Pause(D(2026, 3, 10))]
    assert effective_due(start, EW, pauses=open_pause, today=D(2026, 3, 12)) == D(2026, 4, 7)
    assert effective_due(start, EW, pauses=open_pause, today=D(2026, 3, 10)) == D(2026, 4, 2)


def test_extension_adds_months_from_the_start() -> None:
    assert effective_due(D(2026, 1, 31), EW, extension_months=2) == D(2026, 4, 30)


def test_extension_needs_a_reason_and_the_first_month() -> None:
    start = D(2026, 3, 2)
    ok = clock.check_extension(start, EW, months=2, reason="many agencies",
                               already=0, today=D(2026, 3, 20))
    assert ok == 2
    with pytest.raises(Invalid, match="reason"):
        clock.check_extension(start, EW, months=1, reason=" ", already=0,
                              today=D(2026, 3, 20))
    with pytest.raises(Invalid, match="first month"):
        clock.check_extension(start, EW, months=1, reason="x", already=0,
                              today=D(2026, 4, 3))
    with pytest.raises(Invalid, match="two further months"):
        clock.check_extension(start, EW, months=2, reason="x", already=1,
                              today=D(2026, 3, 20))
    with pytest.raises(Invalid):
        clock.check_extension(start, EW, months=3, reason="x", already=0,
                              today=D(2026, 3, 20))


def test_refusal_needs_reasons() -> None:
    with pytest.raises(Invalid):
        clock.check_refusal("  ")
    assert clock.check_refusal(" repeated request ") == "repeated request"


DATES = st.dates(min_value=D(2024, 1, 1), max_value=D(2030, 12, 31))
NATION = st.sampled_from(clock.NATIONS)


@given(DATES, NATION)
def test_due_is_a_working_day_after_the_calendar_month(received: dt.date,
                                                       nation: str) -> None:
    due = due_date(received, nation)
    raw = clock.add_months(received, 1)
    assert clock.is_working_day(due, nation)
    assert raw <= due < raw + dt.timedelta(days=7)
    # No working day lies between the calendar deadline and the due date.
    day = raw
    while day < due:
        assert not clock.is_working_day(day, nation)
        day += dt.timedelta(days=1)


@given(DATES, DATES, NATION)
def test_due_never_moves_backwards(a: dt.date, b: dt.date, nation: str) -> None:
    first, second = sorted((a, b))
    assert due_date(first, nation) <= due_date(second, nation)


@given(DATES, st.integers(min_value=0, max_value=60), NATION)
def test_pausing_never_brings_the_deadline_forward(start: dt.date, days: int,
                                                   nation: str) -> None:
    paused = [Pause(start, start + dt.timedelta(days=days))]
    assert effective_due(start, nation, pauses=paused) >= effective_due(start, nation)
