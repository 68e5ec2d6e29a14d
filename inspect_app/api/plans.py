"""Inspection plans API: create (office any district, officer their own), list and follow."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import Session

from inspect_app.deps import CurrentUser, SessionDep, SettingsDep
from inspect_app.domain import plans
from inspect_app.domain.clock import local_today
from inspect_app.domain.sites import resolve_district
from inspect_app.schemas import (
    MAX_OFFSET,
    CreatedOut,
    InspectionPlanDetail,
    InspectionPlanIn,
    InspectionPlanOut,
    NamedRef,
    Page,
    PlanSiteOut,
)

router = APIRouter(tags=["plans"])


def plan_out(row: plans.PlanProgress, today: date, model=InspectionPlanOut, **extra):
    p = row.plan
    return model(
        id=p.id,
        name=p.name,
        template_id=p.template_id,
        template=row.template_name,
        district_id=p.district_id,
        district=row.district_name,
        starts=p.starts,
        ends=p.ends,
        state=row.state(today),
        inspector_ids=row.inspector_ids,
        sites_total=row.sites_total,
        sites_done=row.sites_done,
        created_by=p.created_by,
        created_at=p.created_at,
        **extra,
    )


@router.post(
    "/plans",
    response_model=CreatedOut,
    status_code=201,
    responses={
        403: {"description": "an officer planning another district's sites"},
        422: {"description": "end before start, unpublished checklist, unknown sites"},
    },
)
def create_plan(
    body: InspectionPlanIn, session: SessionDep, user: CurrentUser, settings: SettingsDep
):
    district = resolve_district(session, body.district)
    plan = plans.create_plan(
        session,
        user,
        name=body.name,
        template_id=body.template_id,
        starts=body.starts,
        ends=body.ends,
        site_ids=body.site_ids,
        district_id=district.id if district else None,
        risk_classes=body.risk_classes,
        inspector_ids=body.inspector_ids,
        zone=settings.zone,
    )
    return CreatedOut(id=plan.id)


@router.get("/plans", response_model=Page[InspectionPlanOut])
def list_plans(
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
):
    rows, total = plans.list_plans(session, user, limit=limit, offset=offset)
    today = local_today(settings.zone)
    return Page(items=[plan_out(r, today) for r in rows], total=total)


def plan_detail(session: Session, user, plan_id: int, today: date) -> InspectionPlanDetail:
    plan = plans.get_plan(session, user, plan_id)
    (row,) = plans.progress(session, [plan])
    return plan_out(
        row,
        today,
        InspectionPlanDetail,
        sites=[
            PlanSiteOut(
                site=NamedRef(id=s.site.id, name=s.site.name),
                district=s.district_name,
                done_at=s.done_at,
                inspection_id=s.inspection_id,
            )
            for s in plans.plan_sites(session, plan)
        ],
    )


@router.get("/plans/{plan_id}", response_model=InspectionPlanDetail)
def get_plan(plan_id: int, session: SessionDep, user: CurrentUser, settings: SettingsDep):
    return plan_detail(session, user, plan_id, local_today(settings.zone))
