"""The local calendar: deadlines and ISO weeks are in the city's time zone, storage is UTC.

The zone is an argument (settings.zone, passed in from the edges), never read from the
environment here: an app built with another time zone must get that zone everywhere.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo


def now() -> datetime:
    """The current instant (aware UTC). Call it as `clock.now()`, so that tests can move the
    clock by replacing this one function."""
    return datetime.now(UTC)


def local_today(zone: ZoneInfo, now: datetime | None = None) -> date:
    """The local calendar day of `now` (default: the current instant)."""
    now = now or datetime.now(UTC)
    return now.astimezone(zone).date()


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which a local calendar day begins."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)
