"""Inspections API: one-shot idempotent submission, one inspection with its answers and hazards,
and the caller's own list."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from sqlmodel import Session

from inspect_app.api.hazards import hazard_out, photo_ref
from inspect_app.deps import CurrentUser, InspectorUser, SessionDep
from inspect_app.domain import hazards, inspections
from inspect_app.domain.clock import local_today
from inspect_app.models import District
from inspect_app.schemas import (
    MAX_OFFSET,
    AnswerOut,
    InspectionCreated,
    InspectionDetail,
    InspectionIn,
    InspectionOut,
    LatLon,
    NamedRef,
    Page,
)

router = APIRouter(tags=["inspections"])


def hazards_out(session: Session, rows) -> list:
    ctx = hazards.hazard_context(session, rows)
    today = local_today()
    return [hazard_out(h, ctx, today) for h in rows]


def inspection_out(session: Session, v: inspections.InspectionView, model=InspectionOut, **extra):
    i = v.inspection
    district = session.get(District, v.site.district_id)
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


@router.post(
    "/inspections",
    response_model=InspectionCreated,
    status_code=201,
    responses={
        200: {"model": InspectionCreated, "description": "this client_uuid was already submitted"}
    },
)
def submit_inspection(
    body: InspectionIn, response: Response, session: SessionDep, user: InspectorUser
):
    """Create, answer and submit an inspection in one request; one hazard per failed item.

    Idempotent on client_uuid: a retry returns the first result with status 200 and creates nothing."""
    inspection, created, is_new = inspections.submit_payload(session, user, body)
    if not is_new:
        response.status_code = 200
    return InspectionCreated(
        id=inspection.id, status=inspection.status, hazards=hazards_out(session, created)
    )


@router.get("/inspections", response_model=Page[InspectionOut])
def list_inspections(
    session: SessionDep,
    user: CurrentUser,
    status: Literal["draft", "submitted"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
):
    """The caller's own inspections (drafts and submissions), most recent first."""
    rows, total = inspections.list_inspections(
        session, user, status=status, limit=limit, offset=offset
    )
    return Page(
        items=[inspection_out(session, inspections.view(session, i)) for i in rows], total=total
    )


@router.get("/inspections/{inspection_id}", response_model=InspectionDetail)
def get_inspection(inspection_id: int, session: SessionDep, user: CurrentUser):
    """One inspection with every answer and the hazards it created."""
    v = inspections.view(session, inspections.get_inspection(session, user, inspection_id))
    answers = [
        AnswerOut(
            item_id=r.item.id,
            item_key=r.item.key,
            result=r.answer.result,
            value=r.answer.value,
            note=r.answer.note,
            hazard_grade=r.answer.hazard_grade,
            hazard_description=r.answer.hazard_description,
            photo_ids=r.photo_ids,
            photos=[photo_ref(p) for p in r.photo_ids],
        )
        for r in v.rows
        if r.answer is not None
    ]
    return inspection_out(
        session, v, InspectionDetail, answers=answers, hazards=hazards_out(session, v.hazards)
    )
