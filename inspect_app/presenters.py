"""Read models shared by the pages and the JSON API: one view of a hazard or an inspection,
which api/ returns as JSON and web/ renders as HTML (so the two never disagree).

Each function takes what it shows plus `today` (the city's local day, from the request's
settings) and returns the API schema objects; the templates read the same fields.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from sqlmodel import Session, select

from inspect_app.domain import clock, hazards, inspections, sites
from inspect_app.models import District, Hazard, User
from inspect_app.schemas import (
    EventOut,
    HazardDetail,
    HazardOut,
    InspectionOut,
    LatLon,
    NamedRef,
    PhotoRef,
    PlanOut,
)


def photo_ref(photo_id: int, kind: str = "finding") -> PhotoRef:
    return PhotoRef(
        id=photo_id, url=f"/photos/{photo_id}", thumb_url=f"/photos/{photo_id}/thumb", kind=kind
    )


def hazard_out(h: Hazard, ctx: dict, today: date, model=HazardOut, **extra):
    """One hazard with its site and district names (ctx: hazards.hazard_context of a page)."""
    site = ctx["sites"].get(h.site_id)
    district = ctx["districts"].get(h.district_id)
    return model(
        id=h.id,
        grade=h.grade,
        category=h.category,
        description=h.description,
        status=h.status,
        overdue=hazards.is_overdue(h, today),
        deadline=h.deadline,
        created_at=h.created_at,
        accepted_at=h.accepted_at,
        site=NamedRef(id=h.site_id, name=site.name if site else ""),
        district=NamedRef(id=h.district_id, name=district.name if district else ""),
        location=LatLon(lat=h.lat, lon=h.lon) if h.lat is not None and h.lon is not None else None,
        inspection_id=h.inspection_id,
        item_id=h.item_id,
        reporter_id=h.reporter_id,
        version=h.version,
        **extra,
    )


def hazards_out(session: Session, rows: list[Hazard], today: date) -> list[HazardOut]:
    """A page of hazards, their names fetched in two queries."""
    ctx = hazards.hazard_context(session, rows)
    return [hazard_out(h, ctx, today) for h in rows]


def hazard_detail(session: Session, user: User, hazard_id: int, today: date) -> HazardDetail:
    """One hazard with plan, photos and history (GET /hazards/{id}, each transition, the page)."""
    h = hazards.get_hazard(session, user, hazard_id)
    ctx = hazards.hazard_context(session, [h])
    plan = hazards.hazard_plan(session, h.id)
    events = hazards.hazard_events(session, h.id)
    actors = {
        u.id: u
        for u in session.exec(select(User).where(User.id.in_({e.actor_id for e in events}))).all()
    }
    photos = [photo_ref(p.id, "finding") for p in hazards.hazard_photos(session, h.id, "finding")]
    photos += [
        photo_ref(p.id, "rectification")
        for p in hazards.hazard_photos(session, h.id, "rectification")
    ]
    return hazard_out(
        h,
        ctx,
        today,
        HazardDetail,
        plan=PlanOut.model_validate(plan, from_attributes=True) if plan else None,
        photos=photos,
        events=[
            EventOut(
                id=e.id,
                action=e.action,
                from_status=e.from_status,
                to_status=e.to_status,
                at=e.at,
                actor_id=e.actor_id,
                actor=actors[e.actor_id].display_name if e.actor_id in actors else "",
                payload=e.payload,
            )
            for e in events
        ],
    )


def inspection_out(
    v: inspections.InspectionView | inspections.InspectionSummary, model=InspectionOut, **extra
):
    """One inspection with its counts: from a full view (one inspection) or a list's summary."""
    i, district = v.inspection, v.district
    return model(
        id=i.id,
        client_uuid=i.client_uuid,
        status=i.status,
        template_id=v.template.id,
        template_version_id=i.template_version_id,
        site=NamedRef(id=v.site.id, name=v.site.name),
        district=NamedRef(id=district.id, name=district.name),
        inspector=NamedRef(id=v.inspector.id, name=v.inspector.display_name),
        started_at=i.started_at,
        submitted_at=i.submitted_at,
        location=LatLon(lat=i.lat, lon=i.lon) if i.lat is not None and i.lon is not None else None,
        location_source=i.location_source,
        location_district_id=i.location_district_id,
        flag=i.flag,
        answered=v.answered,
        total=v.total,
        failed=v.failed,
        **extra,
    )


class DueList(NamedTuple):
    district: District | None
    rows: list
    total: int
    names: dict[int, str]  # district names by id


def due_sites(session: Session, user: User, settings, district: str | None, **query) -> DueList:
    """The due list for GET /api/v1/sites and the /sites page. `query` is domain
    sites.due_sites' own (due, q, limit, offset, by_urgency)."""
    d = sites.resolve_district(session, district)
    rows, total = sites.due_sites(
        session,
        user,
        now=clock.now(),
        soon_days=settings.due_soon_days,
        zone=settings.zone,
        district_id=d.id if d else None,
        **query,
    )
    names = {x.id: x.name for x in session.exec(select(District)).all()}
    return DueList(d, rows, total, names)
