"""Read API for the reference data: districts, sites, checklist templates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import select

from inspect_app import presenters
from inspect_app.deps import CurrentUser, SessionDep, SettingsDep
from inspect_app.domain import checklists
from inspect_app.domain.due import SiteDue
from inspect_app.models import District, DueStatus
from inspect_app.schemas import (
    MAX_OFFSET,
    DistrictOut,
    ItemOut,
    LatLon,
    Page,
    SectionOut,
    SiteOut,
    TemplateDetail,
    TemplateOut,
)

router = APIRouter(tags=["catalog"])

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


def district_out(d: District) -> DistrictOut:
    centroid = (
        LatLon(lat=d.centroid_lat, lon=d.centroid_lon) if d.centroid_lat is not None else None
    )
    return DistrictOut(id=d.id, name=d.name, code=d.code, centroid=centroid)


@router.get("/districts", response_model=Page[DistrictOut])
def list_districts(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0):
    rows = session.exec(select(District).order_by(District.code)).all()
    return Page(items=[district_out(d) for d in rows[offset : offset + limit]], total=len(rows))


@router.get("/sites", response_model=Page[SiteOut])
def list_sites(
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    district: str | None = None,
    due: DueStatus | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
):
    """Active sites with when each is next due; `due` filters by the due status."""
    _, rows, total, names = presenters.due_sites(
        session, user, settings, district, due=due, q=q, limit=limit, offset=offset
    )
    return Page(items=[site_out(r, names) for r in rows], total=total)


def site_out(row: SiteDue, names: dict[int, str]) -> SiteOut:
    s = row.site
    return SiteOut(
        id=s.id,
        name=s.name,
        address=s.address,
        district_id=s.district_id,
        district=names.get(s.district_id, ""),
        risk_class=s.risk_class,
        cadence_days=s.cadence_days,
        is_active=s.is_active,
        location=LatLon(lat=s.lat, lon=s.lon) if s.lat is not None else None,
        last_inspected_at=s.last_inspected_at,
        next_due=row.next_due,
        due_status=row.status,
    )


@router.get("/templates", response_model=Page[TemplateOut])
def list_templates(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0):
    rows = checklists.published_templates(session)
    return Page(
        items=[
            TemplateOut(
                id=t.id,
                key=t.key,
                name_zh=t.name_zh,
                name_en=t.name_en,
                version_id=v.id,
                version=v.version,
                published_at=v.published_at,
            )
            for t, v in rows[offset : offset + limit]
        ],
        total=len(rows),
    )


@router.get("/templates/{template_id}", response_model=TemplateDetail)
def get_template(template_id: int, session: SessionDep, user: CurrentUser):
    t, v = checklists.get_template(session, template_id)
    sections = [
        SectionOut(
            id=s.id,
            key=s.key,
            title_zh=s.title_zh,
            title_en=s.title_en,
            items=[
                ItemOut.model_validate(i, from_attributes=True)
                for i in checklists.items_of(session, v.id, s.id)
            ],
        )
        for s in checklists.sections_of(session, v.id)
    ]
    return TemplateDetail(
        id=t.id,
        key=t.key,
        name_zh=t.name_zh,
        name_en=t.name_en,
        version_id=v.id,
        version=v.version,
        published_at=v.published_at,
        sections=sections,
    )
