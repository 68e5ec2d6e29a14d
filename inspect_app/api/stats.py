"""Statistics and map API: district figures for a period, the district layer of the map and
the hazard points (clustered on the server by zoom and bounding box)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from inspect_app.deps import OfficerUser, SessionDep, SettingsDep
from inspect_app.domain import geo, stats
from inspect_app.filters import FiltersDep, StatsDep
from inspect_app.schemas import NamedRef

router = APIRouter(tags=["stats"])


class DistrictStatsOut(BaseModel):
    district: NamedRef | None
    open: int
    closed: int
    new: int
    major: int
    general: int
    overdue: int
    due: int
    on_time: int
    rectification_rate: float | None
    sites: int
    covered_sites: int
    coverage: float | None
    risk_level: Literal["red", "orange", "yellow", "blue"]

    @classmethod
    def of(cls, row: stats.DistrictStats) -> DistrictStatsOut:
        data = row.as_dict()
        ref = NamedRef(id=row.district_id, name=row.name) if row.district_id is not None else None
        return cls(district=ref, **{k: v for k, v in data.items() if k in cls.model_fields})


class StatsPage(BaseModel):
    since: date
    until: date
    items: list[DistrictStatsOut]
    total: int
    totals: DistrictStatsOut
    risk_rule: str
    definitions: dict[str, str]


@router.get("/stats/districts", response_model=StatsPage)
def district_stats(session: SessionDep, q: StatsDep, settings: SettingsDep):
    """One row per district for the period (definitions of each figure in `definitions`)."""
    rows = q.rows(session)
    return StatsPage(
        since=q.since,
        until=q.until,
        items=[DistrictStatsOut.of(r) for r in rows],
        total=len(rows),
        totals=DistrictStatsOut.of(stats.city_totals(rows, q.rule)),
        risk_rule=settings.risk_rule,
        definitions={k: str(v) for k, v in stats.DEFINITIONS.items()},
    )


@router.get("/map/districts.geojson")
def map_districts(session: SessionDep, q: StatsDep, settings: SettingsDep) -> dict[str, Any]:
    """The districts' polygons with their figures and four-colour level for the period."""
    return geo.district_layer(session, q.rows(session), crs=settings.tile_crs)


@router.get("/map/hazards.geojson")
def map_hazards(
    session: SessionDep,
    user: OfficerUser,
    settings: SettingsDep,
    filters: FiltersDep,
    zoom: Annotated[int, Query(ge=0, le=geo.MAX_ZOOM)] = 11,
    bbox: Annotated[
        str | None, Query(description="west,south,east,north in degrees", max_length=200)
    ] = None,
) -> dict[str, Any]:
    """Hazards matching the hazard-list filters: clusters (count, major, overdue) when many are
    in view, else the hazards themselves with popup data."""
    return geo.hazard_map(
        session,
        user,
        filters,
        zoom=zoom,
        bbox=geo.parse_bbox(bbox, settings.tile_crs),
        crs=settings.tile_crs,
    )
