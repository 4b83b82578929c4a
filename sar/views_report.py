"""The SAR reports page and its CSV: counts for the partnership board and the ICO.

Partnership coordinators and admins see every agency's figures; an agency's SAR officer sees
only the requests their agency had a part in (``sar.reporting.sees_everything``). The page
and the file hold counts and the reasons coordinators gave, never a reference or a name.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, render_template, request, url_for
from flask_babel import format_date
from werkzeug.exceptions import NotFound as HttpNotFound

from portal import csvfile, database
from portal.identity.models import Role, StaffUser
from portal.identity.sessions import current_staff, staff_required
from sar import clock, forms, reporting

bp = Blueprint("sar_report", __name__, url_prefix="/staff/sar/reports")
report_staff = staff_required(Role.SAR_COORDINATOR, Role.PARTNERSHIP_ADMIN, Role.SAR_OFFICER)


def _me() -> StaffUser:
    staff = current_staff()
    if staff is None:  # staff_required guarantees a signed-in officer
        raise HttpNotFound()
    return staff


def _form_values(form: forms.ReportPeriodForm, period: reporting.Period | None
                 ) -> dict[str, str]:
    # What the boxes show: as typed after an error, else the period reported on.
    if period is None or any(form.shown().values()):
        return form.shown()
    return {"from_month": str(period.first.month), "from_year": str(period.first.year),
            "to_month": str(period.last.month), "to_year": str(period.last.year)}


def _labels(report: reporting.Report) -> dict[dt.date, dict[str, str]]:
    # Translators never see these: Babel names the months in the page's language.
    return {m: {"short": format_date(m, "LLL yyyy"), "long": format_date(m, "LLLL yyyy")}
            for m, _f in report.months}


def _page(form: forms.ReportPeriodForm, period: reporting.Period | None,
          **extra: Any) -> str:
    return render_template("sar/report.html", form=form, values=_form_values(form, period),
                           form_errors=form.summary, staff=_me(), **extra)


def _asked() -> tuple[forms.ReportPeriodForm, Any, Any]:
    """The period the GET form asks for and its report (both None when the form is wrong)."""
    form = forms.ReportPeriodForm(formdata=request.args)
    today = clock.today()
    period = form.period(today)
    if period is None:
        return form, None, None
    return form, period, reporting.report_for(database.session(), _me(), period=period,
                                              today=today)


@bp.get("/")
@report_staff
def page() -> str | tuple[str, int]:
    """The figures of a period, as charts and as tables, with a link to the CSV."""
    form, period, report = _asked()
    if report is None:
        return _page(form, None, report=None), 400
    csv_args: dict[str, Any] = {k: v for k, v in request.args.items() if k in
                                {"from-month", "from-year", "to-month", "to-year"}}
    return _page(form, period, report=report, chart=reporting.chart(report),
                 agency_chart=reporting.agency_chart(report), labels=_labels(report),
                 everything=reporting.sees_everything(_me()),
                 csv_url=url_for("sar_report.csv_file", **csv_args))


@bp.get("/requests.csv")
@report_staff
def csv_file() -> Response | tuple[str, int]:
    """The same figures as a CSV file, safe to open in a spreadsheet."""
    form, period, report = _asked()
    if report is None:
        return _page(form, None, report=None), 400
    name = f"sar-report-{period.first:%Y-%m}-to-{period.last:%Y-%m}.csv"
    return Response(csvfile.text(reporting.CSV_COLUMNS, reporting.csv_rows(report)),
                    mimetype="text/csv", headers={
                        "Content-Disposition": f'attachment; filename="{name}"',
                        "Cache-Control": "no-store"})
