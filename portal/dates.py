"""Dates as the partnership lives them: the legal clock and every "today" run on UK time
(Europe/London), whatever the server's own time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def today(now: dt.datetime | None = None) -> dt.date:
    """Today's date in the UK (at ``now``, an aware time, if given): a request made at 00:30
    on a summer morning is made that day, though it is still yesterday in UTC."""
    return (now or dt.datetime.now(LONDON)).astimezone(LONDON).date()
