"""Safety-office pages: the district dashboard, the four-colour hazard map and coverage.

The figures come from domain/stats.py (the same as the API and the weekly report); the map
page only carries its settings in data-* attributes, static/map.js fetches the GeoJSON.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request

from inspect_app.deps import OfficerUser, SessionDep, SettingsDep
from inspect_app.domain import plans, stats
from inspect_app.domain.clock import local_today, start_of_day
from inspect_app.domain.sites import resolve_district
from inspect_app.filters import DistrictParam, StatsDep, StatsQuery
from inspect_app.web.attention import attention_for
from inspect_app.web.rendering import render

router = APIRouter(include_in_schema=False)

TREND_WEEKS = 8
RISK_ORDER = {level: n for n, level in enumerate(stats.RISK_LEVELS)}
SORT_KEYS = (
    "code",
    "name",
    "open",
    "new",
    "closed",
    "major",
    "general",
    "overdue",
    "rectification_rate",
    "coverage",
    "risk_level",
)


def _sort_value(row: stats.DistrictStats, key: str):
    if key == "risk_level":
        return -RISK_ORDER[row.risk_level]  # descending = red first
    value = getattr(row, key)
    return (value is not None, value or 0) if key in ("rectification_rate", "coverage") else value


def sparklines(points: list[stats.WeekPoint], width: int = 96, height: int = 24) -> dict[str, str]:
    """SVG polyline points of the new and closed counts per week, on one scale so that the
    two lines compare."""
    top = max([p.new for p in points] + [p.closed for p in points] + [1])
    step = width / max(len(points) - 1, 1)

    def line(values: list[int]) -> str:
        return " ".join(
            f"{i * step:.1f},{height - 2 - v / top * (height - 4):.1f}"
            for i, v in enumerate(values)
        )

    return {"new": line([p.new for p in points]), "closed": line([p.closed for p in points])}


def hazard_links(q: stats.DistrictStats, period: StatsQuery) -> dict[str, str]:
    """Each figure's drill-down: the hazard list with the filters that select it (as of now)."""
    base = {"district": q.district_id} if q.district_id is not None else {}
    if period.grade:
        base["grade"] = period.grade
    if period.category:
        base["category"] = period.category
    until = {"until": period.until.isoformat()}

    def link(**params) -> str:
        return "/hazards?" + urlencode({**base, **params})

    return {
        "open": link(status="open", **until),
        "major": link(status="open", **{**until, "grade": "major"}),
        "general": link(status="open", **{**until, "grade": "general"}),
        "overdue": link(status="open", overdue="true"),
        "new": link(since=period.since.isoformat(), **until),
        "closed": link(status="accepted", **until),
        "coverage": "/coverage?"
        + urlencode({"district": q.district_id} if q.district_id is not None else {}),
    }


@router.get("/dashboard")
def dashboard(
    request: Request,
    session: SessionDep,
    user: OfficerUser,
    settings: SettingsDep,
    period: StatsDep,
    sort: Literal[SORT_KEYS] = "code",  # type: ignore[valid-type]
    dir: Literal["asc", "desc"] = "asc",
):
    """The districts' figures for the period, sortable by any column through links (no JS)."""
    rows = period.rows(session)
    rows.sort(key=lambda r: _sort_value(r, sort), reverse=dir == "desc")
    totals = stats.city_totals(rows, period.rule)
    series = stats.weekly_series_by_district(
        session,
        zone=period.zone,
        weeks=TREND_WEEKS,
        until=period.until,
        district_id=period.district_id,
        grade=period.grade,
        category=period.category,
    )
    city = stats.sum_series(series)
    trends = {
        did: {**sparklines(pts), "open_change": pts[-1].open - pts[-2].open if len(pts) > 1 else 0}
        for did, pts in series.items()
    }
    filters = {
        "since": period.since.isoformat(),
        "until": period.until.isoformat(),
        "grade": period.grade or "",
        "category": period.category or "",
    }
    if user.role in ("office", "admin") and period.district_id is not None:
        filters["district"] = str(period.district_id)
    return render(
        request,
        "dashboard/dashboard.html",
        {
            "user": user,
            "rows": rows,
            "totals": totals,
            "links": {r.district_id: hazard_links(r, period) for r in rows},
            "total_links": hazard_links(totals, period),
            "attention": attention_for(request, session, user),
            "plans": plans.list_plans(
                session, user, running_on=local_today(settings.zone), limit=10
            )[0],
            "trends": trends,
            "city": city,
            "city_trend": sparklines(city),
            "definitions": stats.DEFINITIONS,
            "risk_rule": settings.risk_rule,
            "filters": filters,
            "sort": sort,
            "dir": dir,
            "query": urlencode({k: v for k, v in filters.items() if v}),
            "period": period,
        },
        block="stats",
    )


@router.get("/map")
def hazard_map(
    request: Request,
    user: OfficerUser,
    settings: SettingsDep,
    period: StatsDep,
    status: Literal["open", "reported", "rectifying", "rectified", "accepted"] | None = "open",
    overdue: bool | None = None,
):
    """The map page; the polygons' period and the points' filters travel to map.js as URLs."""
    district = {"district": period.district_id} if period.district_id is not None else {}
    stats_query = {"since": period.since.isoformat(), "until": period.until.isoformat(), **district}
    point_filters = {
        k: v
        for k, v in {
            **district,
            "status": status or "",
            "grade": period.grade or "",
            "category": period.category or "",
            "overdue": "true" if overdue else "",
        }.items()
        if v
    }
    return render(
        request,
        "dashboard/map.html",
        {
            "user": user,
            "period": period,
            "status": status or "",
            "overdue": bool(overdue),
            "districts_url": "/api/v1/map/districts.geojson?" + urlencode(stats_query),
            "hazards_url": "/api/v1/map/hazards.geojson?" + urlencode(point_filters),
            "tile_url": settings.tile_url,
            "tile_attribution": settings.tile_attribution,
            "risk_rule": settings.risk_rule,
            "definitions": stats.DEFINITIONS,
        },
    )


@router.get("/coverage")
def coverage(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: OfficerUser,
    district: DistrictParam = "",
):
    """Sites overdue for their routine inspection, per district, as of now."""
    d = resolve_district(session, district)
    district_id = stats.district_for(user, d.id if d else None)
    zone = settings.zone
    today = local_today(zone)
    as_of = start_of_day(today + timedelta(days=1), zone)
    rows = {
        r.district_id: r
        for r in stats.district_stats(
            session,
            zone=zone,
            rule=stats.rule_of(settings),
            since=today,
            until=today,
            district_id=district_id,
            today=today,
        )
    }
    overdue: dict[int, list[dict]] = {did: [] for did in rows}
    for site, last in stats.overdue_sites(session, as_of, district_id):
        due: date | None = (
            local_today(zone, last + timedelta(days=site.cadence_days)) if last else None
        )
        overdue.setdefault(site.district_id, []).append(
            {"site": site, "last": last, "due": due, "days": (today - due).days if due else None}
        )
    return render(
        request,
        "dashboard/coverage.html",
        {
            "user": user,
            "rows": list(rows.values()),
            "overdue": overdue,
            "today": today,
            "definition": stats.DEFINITIONS["coverage"],
            "district_id": district_id,
        },
    )
