"""Hazards API: the list with filters, one hazard with its plan, photos and history, and the
closed-loop transitions (each answers with the hazard as GET /hazards/{id} does)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from inspect_app.deps import CurrentUser, SessionDep, SettingsDep, TodayDep
from inspect_app.domain import hazards
from inspect_app.filters import FiltersDep
from inspect_app.presenters import hazard_detail, hazards_out
from inspect_app.schemas import (
    MAX_OFFSET,
    HazardDetail,
    HazardOut,
    Page,
    PlanIn,
    RectifyIn,
    RejectIn,
    TransitionIn,
)

router = APIRouter(tags=["hazards"])


@router.get("/hazards", response_model=Page[HazardOut])
def list_hazards(
    session: SessionDep,
    user: CurrentUser,
    filters: FiltersDep,
    today: TodayDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
):
    rows, total = hazards.list_hazards(session, user, filters, limit=limit, offset=offset)
    return Page(items=hazards_out(session, rows, today), total=total)


@router.get("/hazards/{hazard_id}", response_model=HazardDetail)
def get_hazard(hazard_id: int, session: SessionDep, user: CurrentUser, today: TodayDep):
    return hazard_detail(session, user, hazard_id, today)


TRANSITION_ERRORS = {
    404: {"description": "no such hazard, or another district's"},
    409: {"description": "not possible in the hazard's status, or changed meanwhile"},
    422: {"description": "incomplete or wrong input"},
}


@router.post("/hazards/{hazard_id}/plan", response_model=HazardDetail, responses=TRANSITION_ERRORS)
def set_plan(
    hazard_id: int,
    body: PlanIn,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    today: TodayDep,
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
    return hazard_detail(session, user, hazard_id, today)


@router.post(
    "/hazards/{hazard_id}/rectify", response_model=HazardDetail, responses=TRANSITION_ERRORS
)
def rectify(
    hazard_id: int, body: RectifyIn, session: SessionDep, user: CurrentUser, today: TodayDep
):
    """Record the rectification with a note and after-photos (rectifying -> rectified)."""
    hazards.rectify(
        session,
        user,
        hazard_id,
        note=body.note,
        photo_ids=body.photo_ids,
        expected_version=body.version,
    )
    return hazard_detail(session, user, hazard_id, today)


@router.post(
    "/hazards/{hazard_id}/accept", response_model=HazardDetail, responses=TRANSITION_ERRORS
)
def accept(
    hazard_id: int,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    today: TodayDep,
    body: TransitionIn | None = None,
):
    """Accept the rectification and close the hazard (rectified -> accepted)."""
    hazards.accept(
        session, user, hazard_id, settings=settings, expected_version=body.version if body else None
    )
    return hazard_detail(session, user, hazard_id, today)


@router.post(
    "/hazards/{hazard_id}/reject", response_model=HazardDetail, responses=TRANSITION_ERRORS
)
def reject(hazard_id: int, body: RejectIn, session: SessionDep, user: CurrentUser, today: TodayDep):
    """Send the rectification back with a reason (rectified -> rectifying)."""
    hazards.reject(session, user, hazard_id, reason=body.reason, expected_version=body.version)
    return hazard_detail(session, user, hazard_id, today)
