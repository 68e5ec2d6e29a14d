"""Due dates of sites: when each site must next be inspected.

A site's next inspection is due at its last submitted inspection plus its cadence
(`cadence_days`); a site never inspected is due now. Its status at an instant NOW:

- never: no inspection submitted yet;
- overdue: due before NOW (the same instant rule as coverage in domain/stats.py, so a site is
  uncovered exactly when it is overdue or never inspected);
- due_soon: due within the next `soon_days` days;
- ok: otherwise.

The status is a SQL expression over the site's own columns (Site.last_inspected_at, kept by
inspection submit), so lists filter, count, page and order by it in ONE query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal
from sqlmodel import Session

from inspect_app.models import DueStatus, Site

# Order of urgency on the inspector's start page: overdue and never-inspected sites first.
URGENCY = {DueStatus.overdue: 0, DueStatus.never: 1, DueStatus.due_soon: 2, DueStatus.ok: 3}
URGENT = (DueStatus.overdue, DueStatus.never, DueStatus.due_soon)


def _days(dialect: str, column):
    """SQL for an instant as fractional days since 1970-01-01 UTC (stored times are UTC)."""
    if dialect == "postgresql":
        return func.extract("epoch", column) / 86400.0
    return func.julianday(column) - 2440587.5


def status_expression(session: Session, now: datetime, soon_days: int):
    """SQL CASE giving each Site row its DueStatus at `now`."""
    dialect = session.get_bind().dialect.name
    due_at = _days(dialect, Site.last_inspected_at) + Site.cadence_days
    now_days = now.astimezone(UTC).timestamp() / 86400.0
    return case(
        (Site.last_inspected_at.is_(None), literal(DueStatus.never.value)),
        (due_at < now_days, literal(DueStatus.overdue.value)),
        (due_at < now_days + soon_days, literal(DueStatus.due_soon.value)),
        else_=literal(DueStatus.ok.value),
    )


def urgency_expression(status):
    """SQL rank of a status expression (URGENCY), for ORDER BY."""
    return case(*[(status == s.value, n) for s, n in URGENCY.items()], else_=len(URGENCY))


def next_due(site: Site, zone: ZoneInfo, today: date) -> date:
    """The local calendar day the next inspection is due; today for a site never inspected."""
    if site.last_inspected_at is None:
        return today
    last = site.last_inspected_at
    last = last if last.tzinfo else last.replace(tzinfo=UTC)
    return (last + timedelta(days=site.cadence_days)).astimezone(zone).date()


@dataclass
class SiteDue:
    """A site with its due status (from the query) and next due day."""

    site: Site
    status: DueStatus
    next_due: date
    distance_km: float | None = None
    planned: bool = False  # a pending site of one of the user's running inspection plans

    @property
    def urgent(self) -> bool:
        return self.status in URGENT
