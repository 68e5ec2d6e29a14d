"""The due list of sites (/sites): when each site must next be inspected, filtered by district
and due status — the same domain query as GET /api/v1/sites; the coverage page links here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from inspect_app import presenters
from inspect_app.deps import OfficerUser, SessionDep, SettingsDep
from inspect_app.models import DueStatus
from inspect_app.web.rendering import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 100


@router.get("/sites")
def due_list(
    request: Request,
    session: SessionDep,
    user: OfficerUser,
    settings: SettingsDep,
    district: Annotated[str | None, Query(max_length=100)] = None,
    due: DueStatus | None = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
):
    """Sites by urgency: overdue and never inspected first."""
    d, rows, total, names = presenters.due_sites(
        session, user, settings, district, due=due, limit=PAGE_SIZE, offset=offset, by_urgency=True
    )
    return render(
        request,
        "sites/list.html",
        {
            "rows": rows,
            "total": total,
            "names": names,
            "district": d,
            "due": due,
            "statuses": list(DueStatus),
            "offset": offset,
            "page_size": PAGE_SIZE,
        },
    )
