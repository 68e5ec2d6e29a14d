"""Hazards API: the list with filters, one hazard with its plan, photos and history, and the
closed-loop transitions (each answers with the hazard as GET /hazards/{id} does)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session, select

from inspect_app.deps import CurrentUser, SessionDep, SettingsDep
from inspect_app.domain import hazards
from inspect_app.domain.clock import local_today
from inspect_app.domain.sites import resolve_district
from inspect_app.models import Hazard, User
from inspect_app.schemas import (
    MAX_OFFSET,
    EventOut,
    HazardDetail,
    HazardOut,
    LatLon,
    NamedRef,
    Page,
    PhotoRef,
    PlanIn,
    PlanOut,
    RectifyIn,
    RejectIn,
    TransitionIn,
)

router = APIRouter(tags=["hazards"])


def hazard_filters(
    session: SessionDep,
    district: Annotated[str | None, Query(description="district name or id")] = None,
    status: Literal["open", "reported", "rectifying", "rectified", "accepted"] | None = None,
    grade: Literal["general", "major"] | None = None,
    overdue: bool | None = None,
    since: date | None = None,
    until: date | None = None,
    site_id: int | None = None,
    category: Annotated[str | None, Query(max_length=200)] = None,
) -> hazards.HazardFilters:
    """The hazard-list filters as query parameters; shared by the list, the map and the exports."""
    d = resolve_district(session, district)
    return hazards.HazardFilters(
        district_id=d.id if d else None,
        status=status,
        grade=grade,
        overdue=overdue,
        since=since,
        until=until,
        site_id=site_id,
        category=category,
    ).check()


FiltersDep = Annotated[hazards.HazardFilters, Depends(hazard_filters)]


def photo_ref(photo_id: int, kind: str = "finding") -> PhotoRef:
    return PhotoRef(
        id=photo_id, url=f"/photos/{photo_id}", thumb_url=f"/photos/{photo_id}/thumb", kind=kind
    )


def hazard_out(h: Hazard, ctx: dict, today: date, model=HazardOut, **extra):
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


@router.get("/hazards", response_model=Page[HazardOut])
def list_hazards(
    session: SessionDep,
    user: CurrentUser,
    filters: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
):
    rows, total = hazards.list_hazards(session, user, filters, limit=limit, offset=offset)
    ctx = hazards.hazard_context(session, rows)
    today = local_today()
    return Page(items=[hazard_out(h, ctx, today) for h in rows], total=total)


def hazard_detail(session: Session, user: User, hazard_id: int) -> HazardDetail:
    """One hazard as the API shows it (also returned by each transition)."""
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
        local_today(),
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


@router.get("/hazards/{hazard_id}", response_model=HazardDetail)
def get_hazard(hazard_id: int, session: SessionDep, user: CurrentUser):
    return hazard_detail(session, user, hazard_id)


TRANSITION_ERRORS = {
    404: {"description": "no such hazard, or another district's"},
    409: {"description": "not possible in the hazard's status, or changed meanwhile"},
    422: {"description": "incomplete or wrong input"},
}


@router.post("/hazards/{hazard_id}/plan", response_model=HazardDetail, responses=TRANSITION_ERRORS)
def set_plan(
    hazard_id: int, body: PlanIn, session: SessionDep, user: CurrentUser, settings: SettingsDep
):
    """Set the five determinations (reported -> rectifying), or revise them while rectifying."""
    hazards.set_plan(
        session,
        user,
        hazard_id,
        settings=settings,
        expected_version=body.version,
        **body.model_dump(exclude={"version"}),
    )
    return hazard_detail(session, user, hazard_id)


@router.post(
    "/hazards/{hazard_id}/rectify", response_model=HazardDetail, responses=TRANSITION_ERRORS
)
def rectify(hazard_id: int, body: RectifyIn, session: SessionDep, user: CurrentUser):
    """Record the rectification with a note and after-photos (rectifying -> rectified)."""
    hazards.rectify(
        session,
        user,
        hazard_id,
        note=body.note,
        photo_ids=body.photo_ids,
        expected_version=body.version,
    )
    return hazard_detail(session, user, hazard_id)


@router.post(
    "/hazards/{hazard_id}/accept", response_model=HazardDetail, responses=TRANSITION_ERRORS
)
def accept(
    hazard_id: int,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    body: TransitionIn | None = None,
):
    """Accept the rectification and close the hazard (rectified -> accepted)."""
    hazards.accept(
        session, user, hazard_id, settings=settings, expected_version=body.version if body else None
    )
    return hazard_detail(session, user, hazard_id)


@router.post(
    "/hazards/{hazard_id}/reject", response_model=HazardDetail, responses=TRANSITION_ERRORS
)
def reject(hazard_id: int, body: RejectIn, session: SessionDep, user: CurrentUser):
    """Send the rectification back with a reason (rectified -> rectifying)."""
    hazards.reject(session, user, hazard_id, reason=body.reason, expected_version=body.version)
    return hazard_detail(session, user, hazard_id)
