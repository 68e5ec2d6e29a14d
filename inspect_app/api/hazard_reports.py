"""POST /api/v1/hazards: a hazard reported on its own (随手拍), answered as GET /hazards/{id}."""

from __future__ import annotations

from fastapi import APIRouter, Response

from inspect_app.deps import CurrentUser, SessionDep, TodayDep
from inspect_app.domain import hazard_reports
from inspect_app.presenters import hazard_detail
from inspect_app.schemas import HazardDetail, HazardReportIn

router = APIRouter(tags=["hazards"])


@router.post(
    "/hazards",
    response_model=HazardDetail,
    status_code=201,
    responses={
        200: {"description": "this client_uuid was sent before: the first hazard, nothing new"},
        403: {"description": "the role may not report hazards"},
        409: {"description": "the client_uuid belongs to another user's report"},
        422: {"description": "unknown or inactive site, or wrong input"},
    },
)
def report_hazard(
    body: HazardReportIn,
    response: Response,
    session: SessionDep,
    user: CurrentUser,
    today: TodayDep,
):
    """Report a hazard found outside a checklist: 201, or 200 with the first one on a retry."""
    hazard, created = hazard_reports.report_hazard(
        session,
        user,
        hazard_reports.HazardReport(
            client_uuid=body.client_uuid,
            site_id=body.site_id,
            grade=body.grade,
            category=body.category,
            description=body.description,
            lat=body.location.lat if body.location else None,
            lon=body.location.lon if body.location else None,
            photo_ids=list(body.photo_ids),
        ),
    )
    if not created:
        response.status_code = 200
    return hazard_detail(session, user, hazard.id, today)
