"""The request filters shared by the pages and the JSON API, each parsed in one place.

- `FiltersDep`: the hazard filters of the hazard list page, GET /api/v1/hazards, the map's
  points and the CSV/XLSX exports. Every value arrives as text, as a plain GET form sends it
  (an empty field means "any"), and goes through HazardFilters.parse: the district by id or
  name, ids, dates and choices strictly, so that a bad value is a 422 and never a 500.
- `StatsDep`: the period and filters of the statistics (dashboard, map polygons, stats API),
  resolved for the user, with the city's calendar and risk rule from the app's settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Query

from inspect_app.deps import OfficerUser, SessionDep, SettingsDep, TodayDep
from inspect_app.domain import stats
from inspect_app.domain.hazards import HazardFilters
from inspect_app.domain.parsing import parse_date
from inspect_app.i18n import _

DistrictParam = Annotated[str, Query(max_length=100, description="district id or name; empty: all")]
GradeParam = Annotated[str, Query(max_length=20, description="general or major; empty: both")]
CategoryParam = Annotated[str, Query(max_length=200)]


def hazard_filters(
    session: SessionDep,
    settings: SettingsDep,
    district: DistrictParam = "",
    status: Annotated[
        str,
        Query(
            max_length=20,
            description="open (not yet accepted), reported, rectifying, "
            "rectified or accepted; empty: any",
        ),
    ] = "",
    grade: GradeParam = "",
    overdue: Annotated[str, Query(max_length=5, description="true, false; empty: either")] = "",
    since: Annotated[
        str, Query(max_length=10, description="created on or after (YYYY-MM-DD)")
    ] = "",
    until: Annotated[
        str, Query(max_length=10, description="created on or before (YYYY-MM-DD)")
    ] = "",
    site: Annotated[str, Query(max_length=12, description="site id")] = "",
    site_id: Annotated[str, Query(max_length=12, description="site id (same as site)")] = "",
    category: CategoryParam = "",
) -> HazardFilters:
    return HazardFilters.parse(
        session,
        settings.zone,
        district=district,
        status=status,
        grade=grade,
        overdue=overdue,
        since=since,
        until=until,
        site=site or site_id,
        category=category,
    )


FiltersDep = Annotated[HazardFilters, Depends(hazard_filters)]


@dataclass(frozen=True)
class StatsQuery:
    """The period and filters of the statistics, resolved for the user (officers: their district),
    with the city's calendar and four-colour rule from the app's settings."""

    since: date
    until: date
    zone: ZoneInfo
    rule: stats.RiskRule
    district_id: int | None = None
    grade: str | None = None
    category: str | None = None

    def rows(self, session) -> list[stats.DistrictStats]:
        return stats.district_stats(
            session,
            zone=self.zone,
            rule=self.rule,
            since=self.since,
            until=self.until,
            district_id=self.district_id,
            grade=self.grade,
            category=self.category,
        )


def stats_query(
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    user: OfficerUser,
    since: Annotated[
        str, Query(max_length=10, description="first local day (default: 6 days before until)")
    ] = "",
    until: Annotated[str, Query(max_length=10, description="last local day (default: today)")] = "",
    district: DistrictParam = "",
    grade: GradeParam = "",
    category: CategoryParam = "",
) -> StatsQuery:
    first, last = stats.resolve_period(
        parse_date(since, _("Since")), parse_date(until, _("Until")), today
    )
    # The district, grade and category as the hazard list reads them (the same parser).
    f = HazardFilters.parse(
        session, settings.zone, district=district, grade=grade, category=category
    )
    return StatsQuery(
        since=first,
        until=last,
        zone=settings.zone,
        rule=stats.rule_of(settings),
        district_id=stats.district_for(user, f.district_id),
        grade=f.grade,
        category=f.category,
    )


StatsDep = Annotated[StatsQuery, Depends(stats_query)]
