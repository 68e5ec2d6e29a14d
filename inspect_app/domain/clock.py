"""The local calendar: deadlines and ISO weeks are in the city's time zone, storage is UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from inspect_app.config import get_settings


def now() -> datetime:
    """The current instant (aware UTC). Call it as `clock.now()`, so that tests can move the
    clock by replacing this one function."""
    return datetime.now(UTC)


def tz() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def local_today(now: datetime | None = None) -> date:
    now = now or datetime.now(UTC)
    return now.astimezone(tz()).date()


def start_of_day(day: date) -> datetime:
    """The UTC instant at which a local calendar day begins."""
    return datetime.combine(day, time.min, tzinfo=tz()).astimezone(UTC)
