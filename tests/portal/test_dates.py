"""'Today' for the legal clock is the UK's date, whatever the server's time zone."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

from portal import dates
from sar import clock


def test_a_summer_night_after_midnight_is_the_next_day() -> None:
    # Given 23:30 UTC on 1 July, which is 00:30 on 2 July in British Summer Time
    late = dt.datetime(2026, 7, 1, 23, 30, tzinfo=dt.UTC)
    # Then today is 2 July, and the SAR clock's today is the same function
    assert dates.today(late) == dt.date(2026, 7, 2)
    assert clock.today is dates.today


def test_a_winter_night_is_utc() -> None:
    assert dates.today(dt.datetime(2026, 1, 1, 23, 30, tzinfo=dt.UTC)) == dt.date(2026, 1, 1)


def test_the_servers_time_zone_does_not_matter() -> None:
    # A server set to a time zone far from the UK still counts days in the UK.
    script = ("import datetime as dt, zoneinfo; from portal import dates; "
              "print(dates.today() == dt.datetime.now(zoneinfo.ZoneInfo('Europe/London'))"
              ".date())")
    out = subprocess.run([sys.executable, "-c", script], env={"TZ": "Pacific/Kiritimati"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
