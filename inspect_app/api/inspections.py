"""Inspections API: one-shot idempotent submission, one inspection with its answers and hazards,
and the caller's own list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from inspect_app.deps import CurrentUser, InspectorUser, SessionDep, TodayDep
from inspect_app.domain import inspections
from inspect_app.models import InspectionStatus
from inspect_app.presenters import hazards_out, inspection_out, photo_ref
from inspect_app.schemas import (
    MAX_OFFSET,
    AnswerOut,
    InspectionCreated,
    InspectionDetail,
    InspectionIn,
    InspectionOut,
    Page,
)

router = APIRouter(tags=["inspections"])


@router.post(
    "/inspections",
    response_model=InspectionCreated,
    status_code=201,
    responses={
        200: {"model": InspectionCreated, "description": "this client_uuid was already submitted"}
    },
)
def submit_inspection(
    body: InspectionIn,
    response: Response,
    session: SessionDep,
    user: InspectorUser,
    today: TodayDep,
):
    """Create, answer and submit an inspection in one request; one hazard per failed item.

    Idempotent on client_uuid: a retry returns the first result with status 200 and creates nothing."""
    inspection, created, is_new = inspections.submit_payload(session, user, body.model_dump())
    if not is_new:
        response.status_code = 200
    return InspectionCreated(
        id=inspection.id, status=inspection.status, hazards=hazards_out(session, created, today)
    )


@router.get("/inspections", response_model=Page[InspectionOut])
def list_inspections(
    session: SessionDep,
    user: CurrentUser,
    status: InspectionStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
):
    """The caller's own inspections (drafts and submissions), most recent first."""
    rows, total = inspections.list_inspections(
        session, user, status=status, limit=limit, offset=offset
    )
    return Page(
        items=[inspection_out(v) for v in inspections.summaries(session, rows)], total=total
    )


@router.get("/inspections/{inspection_id}", response_model=InspectionDetail)
def get_inspection(inspection_id: int, session: SessionDep, user: CurrentUser, today: TodayDep):
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
        v,
        InspectionDetail,
        answers=answers,
        hazards=hazards_out(session, v.hazards, today),
    )
