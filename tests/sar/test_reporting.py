"""SAR reports: the figures (on time with pauses and extensions honoured, late, overdue now,
extended, refused with reasons) by month of receipt and by agency; who sees which; the CSV
and the chart."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.identity.models import Role
from sar import clock, reporting
from sar import operations as ops
from sar.models import SarRequest, Status
from tests.identity_helpers import login, make_staff
from tests.sar.conftest import STAFF
from tests.sar.report_requests import EXTENSION, REFUSAL, TODAY, seed_report_requests

OCTOBER, NOVEMBER = dt.date(2026, 10, 1), dt.date(2026, 11, 1)
PERIOD = reporting.Period(OCTOBER, NOVEMBER)
QUERY = "?from-month=10&from-year=2026&to-month=11&to-year=2026"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def world(session: Session, demo: Any) -> dict[str, Any]:
    """The requests of ``tests.sar.report_requests``, committed."""
    return seed_report_requests(session)


def _report(session: Session, agency_id: int | None = None) -> reporting.Report:
    cases, agencies = reporting.load(session, period=PERIOD, today=TODAY, agency_id=agency_id)
    return reporting.summarise(cases, period=PERIOD, today=TODAY, agencies=agencies,
                               whole_partnership=agency_id is None)


def _by_name(report: reporting.Report) -> dict[str, reporting.Figures]:
    return {a.name: f for a, f in report.agencies}


# The computation


def test_pauses_and_extensions_move_the_deadline_that_on_time_is_judged_by() -> None:
    # Given a request answered 35 days after receipt, after a 14-day pause
    start = dt.date(2026, 11, 2)
    due = clock.effective_due(start, "england-and-wales",
                              pauses=[clock.Pause(dt.date(2026, 11, 5), dt.date(2026, 11, 19))])
    paused = reporting.Case(received_on=start, open=False, due=due, answered_on=TODAY)
    unpaused = reporting.Case(received_on=start, open=False,
                              due=clock.due_date(start, "england-and-wales"), answered_on=TODAY)
    # Then it is on time; without the pause it would have been late
    assert reporting.outcome(paused, TODAY) is reporting.Outcome.ON_TIME
    assert reporting.outcome(unpaused, TODAY) is reporting.Outcome.LATE
    # And an open request past its deadline is overdue; one whose clock never started is not
    assert reporting.outcome(reporting.Case(start, True, dt.date(2026, 12, 2)),
                             TODAY) is reporting.Outcome.OVERDUE
    assert reporting.outcome(reporting.Case(start, True, None), TODAY) is reporting.Outcome.OPEN
    # And one refused before its clock started is on time
    assert reporting.outcome(reporting.Case(start, False, None, refused=True),
                             TODAY) is reporting.Outcome.ON_TIME


def test_the_partnerships_figures_by_month_and_by_agency(session: Session,
                                                          world: dict[str, Any]) -> None:
    report = _report(session)
    t = report.total
    assert (t.received, t.on_time, t.late, t.open, t.overdue) == (7, 4, 1, 2, 1)
    assert (t.extended, t.refused, t.paused, t.closed) == (1, 1, 1, 5)
    assert t.on_time_percent == 80
    october, november = (f for _m, f in report.months)
    assert [m for m, _f in report.months] == [OCTOBER, NOVEMBER]
    assert (october.received, october.on_time, october.late, october.open) == (3, 2, 1, 0)
    assert (november.received, november.on_time, november.open, november.overdue) == (4, 2, 2, 1)
    agencies = _by_name(report)
    police, idva = agencies["Fenshire Police"], agencies["Fenshire IDVA Service"]
    assert (police.received, police.on_time, police.late, police.tasks_late) == (4, 3, 1, 1)
    assert police.on_time_percent == 75
    assert (idva.received, idva.on_time, idva.late, idva.overdue, idva.tasks_late) == \
        (3, 1, 1, 1, 1)
    assert report.no_agency is not None and report.no_agency.received == 1
    # Every agency is listed, those with no request too
    assert all(f.received == 0 for name, f in agencies.items()
               if name not in {"Fenshire Police", "Fenshire IDVA Service"})
    assert report.extension_reasons == [(EXTENSION, 1)]
    assert report.refusal_reasons == [(REFUSAL, 1)]


def test_an_agencys_own_figures_count_only_its_part(session: Session,
                                                     world: dict[str, Any]) -> None:
    report = _report(session, world["police"])
    assert [a.name for a, _f in report.agencies] == ["Fenshire Police"]
    assert (report.total.received, report.total.on_time, report.total.late) == (4, 3, 1)
    # B's IDVA part is not the police's business, nor the coordinators' reasons
    assert report.total.tasks_late == 1
    assert report.no_agency is None
    assert report.extension_reasons == report.refusal_reasons == []


def test_reasons_are_counted_whatever_their_spacing_or_case() -> None:
    cases = [reporting.Case(TODAY, False, None, refused=True, refusal_reason=r)
             for r in ("Manifestly  excessive", "manifestly excessive", "Unfounded", " ")]
    report = reporting.summarise(cases, period=reporting.Period(TODAY.replace(day=1),
                                                                TODAY.replace(day=1)),
                                 today=TODAY, agencies=[])
    assert report.refusal_reasons == [("Manifestly excessive", 2), ("Unfounded", 1)]
    assert report.total.refused == 4


def test_the_rate_is_rounded_down_so_a_late_request_never_shows_100() -> None:
    figures = reporting.Figures(on_time=199, late=1)
    assert figures.on_time_percent == 99
    assert reporting.Figures().on_time_percent is None


def test_the_chart_scale_and_bars(session: Session, world: dict[str, Any]) -> None:
    chart = reporting.chart(_report(session))
    assert [b.total for b in chart.bars] == [3, 4]
    assert chart.ticks[-1][0] == 5 and chart.ticks[0] == (0, reporting.LABEL_WIDTH)
    november = chart.bars[1]
    assert [(s.outcome, s.count) for s in november.segments] == [
        (reporting.Outcome.ON_TIME, 2), (reporting.Outcome.OPEN, 1),
        (reporting.Outcome.OVERDUE, 1)]
    assert november.end == pytest.approx(reporting.LABEL_WIDTH + 4 * reporting.BAR_AREA / 5)
    assert [reporting.nice_ceiling(n) for n in (0, 5, 6, 11, 21, 120)] == [5, 5, 10, 20, 50, 200]


def test_closing_a_request_records_the_day(session: Session, filed: Any) -> None:
    # Given a request refused through the operation
    sar = filed()
    ops.refuse(session, sar, reason="Manifestly unfounded", actor=STAFF)
    # Then the day it closed is the UK date, judged against the deadline (2 December for a
    # request made valid on 3 November)
    assert sar.answered_on == clock.today()
    case = reporting.case_of(sar, clock.today())
    assert case.due == dt.date(2026, 12, 2)
    assert reporting.outcome(case, clock.today()) is (
        reporting.Outcome.ON_TIME if clock.today() <= case.due else reporting.Outcome.LATE)


# The page, the CSV and the chart


@pytest.fixture
def fixed_today(monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's "today" is 7 December 2026."""
    monkeypatch.setattr(clock, "today", lambda now=None: TODAY)


def _svgs(page: str) -> list[ET.Element]:
    # The portal's own page, parsed to prove each chart is well-formed XML.
    return [ET.fromstring(m)  # noqa: S314
            for m in re.findall(r"<svg\b.*?</svg>", page, re.DOTALL)]


def test_a_coordinator_sees_the_partnerships_figures_as_charts_and_tables(
        client: FlaskClient, session: Session, world: dict[str, Any],
        fixed_today: None) -> None:
    login(client, make_staff(session, "victim-care", Role.SAR_COORDINATOR))
    r = client.get("/staff/sar/reports/" + QUERY)
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "Fenshire Police" in page and "Fenshire IDVA Service" in page
    assert EXTENSION in page and "=HYPERLINK(&#34;https://evil" in page
    # Only counts: no reference and no name of a person
    assert not any(ref in page for ref in world["refs"]) and "Morgan" not in page
    months, rates = _svgs(page)
    for svg in (months, rates):
        assert svg.get("role") == "img"
        ids = svg.get("aria-labelledby", "").split()
        assert [svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")] == \
            [svg.find(f".//*[@id='{i}']") for i in ids]
    desc = months.findtext(f"{SVG}desc") or ""
    assert "7 in all, 4 closed on time, 1 closed late, 1 open in time and 1 overdue" in desc
    texts = [t.text for t in months.iter(f"{SVG}text")]
    assert "Oct 2026" in texts and "Nov 2026" in texts and "3" in texts and "4" in texts
    rate_texts = [t.text for t in rates.iter(f"{SVG}text")]
    assert "75% (3 of 4)" in rate_texts and "50% (1 of 2)" in rate_texts
    # The figures are in the tables beneath, too
    assert re.search(r"October 2026</th>\s*<td[^>]*>3</td>", page)


def test_an_agencys_sar_officer_sees_only_their_agencys_figures(
        client: FlaskClient, session: Session, world: dict[str, Any],
        fixed_today: None) -> None:
    login(client, make_staff(session, "fenshire-police", Role.SAR_OFFICER))
    page = client.get("/staff/sar/reports/" + QUERY).get_data(as_text=True)
    assert "Fenshire Police" in page and "Fenshire IDVA Service" not in page
    assert EXTENSION not in page and "HYPERLINK" not in page
    desc = _svgs(page)[0].findtext(f"{SVG}desc") or ""
    assert "4 in all, 3 closed on time, 1 closed late" in desc
    rows = list(csv.DictReader(io.StringIO(client.get(
        "/staff/sar/reports/requests.csv" + QUERY).get_data(as_text=True))))
    assert {r["label"] for r in rows if r["group"] == "agency"} == {"Fenshire Police"}
    assert not [r for r in rows if r["group"].endswith("reason")]


@pytest.mark.parametrize("role", [Role.CONSENT_OFFICER, Role.AGENCY_ADMIN])
def test_other_roles_are_refused(client: FlaskClient, session: Session, demo: Any,
                                 role: str) -> None:
    login(client, make_staff(session, "fenshire-police", role))
    assert client.get("/staff/sar/reports/").status_code == 403
    assert client.get("/staff/sar/reports/requests.csv").status_code == 403


def test_the_csv_is_formula_safe_with_its_headers(
        client: FlaskClient, session: Session, world: dict[str, Any],
        fixed_today: None) -> None:
    login(client, make_staff(session, "fenshire-police", Role.PARTNERSHIP_ADMIN))
    r = client.get("/staff/sar/reports/requests.csv" + QUERY)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"] == \
        'attachment; filename="sar-report-2026-10-to-2026-11.csv"'
    assert r.headers["Cache-Control"] == "no-store"
    text = r.get_data(as_text=True)
    assert text.splitlines()[0] == ",".join(reporting.CSV_COLUMNS)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0] == {**dict.fromkeys(reporting.CSV_COLUMNS, ""), "group": "total",
                       "label": "2026-10 to 2026-11", "received": "7", "open": "2",
                       "overdue": "1", "closed": "5", "answered_on_time": "4",
                       "closed_late": "1", "closed_undated": "0", "on_time_percent": "80",
                       "extended": "1", "refused": "1", "paused": "1",
                       "agency_parts_late": "2"}
    assert [r["label"] for r in rows if r["group"] == "month"] == ["2026-10", "2026-11"]
    [refusal] = [r for r in rows if r["group"] == "refusal reason"]
    # A reason that starts like a formula is text in a spreadsheet
    assert refusal["label"] == "'" + REFUSAL and refusal["count"] == "1"


def test_a_bad_period_lists_every_error_and_keeps_what_was_typed(
        client: FlaskClient, session: Session, demo: Any) -> None:
    login(client, make_staff(session, "victim-care", Role.SAR_COORDINATOR))
    r = client.get("/staff/sar/reports/?from-month=13&from-year=26&to-month=&to-year=2026")
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    for href in ("#from-month", "#from-year", "#to-month"):
        assert f'href="{href}"' in page
    assert 'value="13"' in page and 'value="26"' in page
    r = client.get("/staff/sar/reports/?from-month=1&from-year=2020&to-month=1&to-year=2026")
    assert r.status_code == 400 and "at most 36 months" in r.get_data(as_text=True)
    r = client.get("/staff/sar/reports/?from-month=5&from-year=2026&to-month=1&to-year=2026")
    assert r.status_code == 400 and "same as or after its start" in r.get_data(as_text=True)
    assert client.get("/staff/sar/reports/requests.csv?from-month=x").status_code == 400


def test_with_no_period_the_last_twelve_months_are_shown(
        client: FlaskClient, session: Session, world: dict[str, Any],
        fixed_today: None) -> None:
    login(client, make_staff(session, "victim-care", Role.SAR_COORDINATOR))
    page = client.get("/staff/sar/reports/").get_data(as_text=True)
    assert "January 2026 to December 2026" in page
    # Seven in the fixture's two months and one in September
    assert "8 in all" in page


@pytest.mark.parametrize("language", ["cy", "pl"])
def test_the_page_in_welsh_and_polish(app: Flask, client: FlaskClient, session: Session,
                                      world: dict[str, Any], fixed_today: None,
                                      language: str) -> None:
    login(client, make_staff(session, "victim-care", Role.SAR_COORDINATOR))
    client.get(f"/language/{language}")
    page = client.get("/staff/sar/reports/" + QUERY).get_data(as_text=True)
    assert f'lang="{language}"' in page
    assert "Requests by month received" not in page
    assert len(_svgs(page)) == 2


def test_the_queue_links_to_the_reports(client: FlaskClient, session: Session,
                                        demo: Any) -> None:
    login(client, make_staff(session, "fenshire-police", Role.SAR_OFFICER))
    assert "/staff/sar/reports/" in client.get("/staff/sar/").get_data(as_text=True)


def test_answered_on_is_read_back_on_both_engines(session: Session,
                                                world: dict[str, Any]) -> None:
    refused = session.scalar(select(SarRequest).where(SarRequest.status == Status.REFUSED))
    assert refused is not None and refused.answered_on == dt.date(2026, 11, 4)
    assert isinstance(refused.id, uuid.UUID)
