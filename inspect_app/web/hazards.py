"""The officer's hazard pages: the filtered list, one hazard with its closed-loop forms and
timeline, and the printable rectification notice.

Every form works as a plain POST that redirects (303) back to the hazard; htmx posts the same
forms and gets only the page's `hazard` block back. A refused step re-renders the block with
the message (status 200 for htmx, which does not swap error responses; the real status
otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from shapely.geometry import mapping, shape
from sqlmodel import select
from starlette.datastructures import FormData, UploadFile

from inspect_app.deps import CurrentUser, SessionDep, SettingsDep, TodayDep
from inspect_app.domain import hazards, notices, photos, sites
from inspect_app.domain.access import CITY_WIDE
from inspect_app.domain.clock import local_today
from inspect_app.domain.errors import DomainError, NotFound
from inspect_app.domain.parsing import parse_ids, parse_int
from inspect_app.filters import FiltersDep
from inspect_app.i18n import _
from inspect_app.models import District, Hazard, Site, User
from inspect_app.presenters import hazard_detail
from inspect_app.schemas import MAX_OFFSET
from inspect_app.web.attention import attention_for
from inspect_app.web.downloads import content_disposition
from inspect_app.web.forms import form_dependency
from inspect_app.web.rendering import is_htmx, render, see_other

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
MAX_FILES = 20
PLAN_FIELDS = (
    "responsible_person",
    "measures",
    "deadline",
    "rectifier",
    "acceptor",
    "funds",
    "interim_measures",
    "stop_production",
)


@router.get("/hazards")
def hazard_list(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    filters: FiltersDep,
    today: TodayDep,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
):
    form = filters.as_query()
    rows, total = hazards.list_hazards(session, user, filters, limit=PAGE_SIZE, offset=offset)
    city_wide = user.role in CITY_WIDE
    site_rows, _total = sites.list_sites(
        session, user, district_id=filters.district_id, limit=500, include_inactive=True
    )
    query = urlencode(form)
    ctx = {
        "user": user,
        "rows": rows,
        "total": total,
        "limit": PAGE_SIZE,
        "offset": offset,
        "names": hazards.hazard_context(session, rows),
        "today": today,
        "form": form,
        "districts": session.exec(select(District).order_by(District.name)).all()
        if city_wide
        else [],
        "sites": site_rows,
        "base_url": "/hazards" + (f"?{query}" if query else ""),
        "is_overdue": hazards.is_overdue,
        "attention": attention_for(request, session, user) if user.role == "officer" else [],
    }
    # A history restore wants the whole page even though htmx asks.
    block = None if request.headers.get("hx-history-restore-request") else "results"
    return render(request, "hazards/list.html", ctx, block=block)


def _boundary(session, district_id: int) -> dict | None:
    """The district outline, simplified to a few hundred bytes, as the pin map's background."""
    district = session.get(District, district_id)
    if district is None or not district.boundary:
        return None
    return mapping(shape(district.boundary).simplify(0.003, preserve_topology=True))


def detail_context(
    session,
    settings,
    user: User,
    hazard_id: int,
    *,
    error=None,
    posted: FormData | None = None,
    photo_ids: list[int] = (),
) -> dict:
    today = local_today(settings.zone)
    detail = hazard_detail(session, user, hazard_id, today)
    hazard = session.get(Hazard, hazard_id)
    rectifies = [e for e in detail.events if e.action == "rectify"]
    after_ids = rectifies[-1].payload.get("photo_ids", []) if rectifies else []
    rectified_by = (
        hazards.rectified_by(session, hazard_id) if hazard.status == "rectified" else None
    )
    site = session.get(Site, hazard.site_id)
    form = dict(posted or {})
    if posted is None and detail.plan:
        form = detail.plan.model_dump()
    return {
        "user": user,
        "h": detail,
        "site": site,
        "error": error,
        "errors": (error.errors if error is not None and isinstance(error.errors, dict) else {}),
        "form": form,
        "posted_photo_ids": list(photo_ids),
        "actions": hazards.allowed_actions(hazard, user),
        "before": [p for p in detail.photos if p.kind == "finding"],
        "after": [p for p in detail.photos if p.kind == "rectification" and p.id in after_ids],
        "own_rectification": rectified_by == user.id,
        "acceptor_must_differ": settings.acceptor_must_differ,
        "today": today,
        "boundary": _boundary(session, hazard.district_id),
        "tile_url": settings.tile_url,
        "tile_attribution": settings.tile_attribution,
    }


@router.get("/hazards/{hazard_id}")
def hazard_page(
    hazard_id: int, request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser
):
    return render(
        request,
        "hazards/detail.html",
        detail_context(session, settings, user, hazard_id),
        block="hazard",
    )


FormDep = form_dependency(MAX_FILES, max_fields=100)


def _act(
    request: Request,
    session,
    settings,
    user: User,
    hazard_id: int,
    form: FormData,
    step: Callable[[int | None], object],
    photo_ids: list[int] = (),
):
    """Run one transition; answer with the block (htmx), a redirect, or the page with the reason.

    photo_ids: photos already stored for a refused rectification, offered again with the form.
    """
    try:
        step(parse_int(form.get("version"), _("Version"), low=0))
    except NotFound:
        raise
    except DomainError as exc:
        ctx = detail_context(
            session, settings, user, hazard_id, error=exc, posted=form, photo_ids=photo_ids
        )
        return render(
            request,
            "hazards/detail.html",
            ctx,
            block="hazard",
            # The status tells the phone's outbox the step was refused (e.g. 409: moved on).
            status_code=exc.status_code,
        )
    if is_htmx(request):
        return render(
            request,
            "hazards/detail.html",
            detail_context(session, settings, user, hazard_id),
            block="hazard",
        )
    return see_other(request, f"/hazards/{hazard_id}")


@router.post("/hazards/{hazard_id}/plan")
def plan(
    hazard_id: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    form: FormDep,
):
    stop = {"yes": True, "no": False}.get(form.get("stop_production", ""))
    fields = {name: form.get(name, "") for name in PLAN_FIELDS if name != "stop_production"}
    return _act(
        request,
        session,
        settings,
        user,
        hazard_id,
        form,
        lambda version: hazards.set_plan(
            session,
            user,
            hazard_id,
            stop_production=stop,
            settings=settings,
            expected_version=version,
            **fields,
        ),
    )


@router.post("/hazards/{hazard_id}/rectify")
def rectify(
    hazard_id: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    form: FormDep,
):
    """Photos come as ids (uploaded by the page's script) or, without JavaScript, as files."""
    ids: list[int] = []

    def step(version):
        ids.extend(parse_ids(form.getlist("photo_ids"), _("Photo")))
        hazards.get_hazard(
            session, user, hazard_id
        )  # nothing is stored for a hazard one may not see
        for upload in form.getlist("files"):
            if isinstance(upload, UploadFile) and upload.filename:
                ids.append(
                    photos.ingest(
                        session, settings, user, upload.file, upload.filename, upload.content_type
                    ).id
                )
        hazards.rectify(
            session,
            user,
            hazard_id,
            note=form.get("note", ""),
            photo_ids=ids,
            expected_version=version,
        )

    return _act(request, session, settings, user, hazard_id, form, step, photo_ids=ids)


@router.post("/hazards/{hazard_id}/accept")
def accept(
    hazard_id: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    form: FormDep,
):
    return _act(
        request,
        session,
        settings,
        user,
        hazard_id,
        form,
        lambda version: hazards.accept(
            session, user, hazard_id, settings=settings, expected_version=version
        ),
    )


@router.post("/hazards/{hazard_id}/reject")
def reject(
    hazard_id: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    form: FormDep,
):
    return _act(
        request,
        session,
        settings,
        user,
        hazard_id,
        form,
        lambda version: hazards.reject(
            session, user, hazard_id, reason=form.get("reason", ""), expected_version=version
        ),
    )


@router.get("/hazards/{hazard_id}/notice.pdf")
def notice_pdf(hazard_id: int, session: SessionDep, settings: SettingsDep, user: CurrentUser):
    content = notices.rectification_notice(session, settings, user, hazard_id)
    return Response(
        content,
        media_type="application/pdf",
        headers=content_disposition(f"notice-{hazard_id}.pdf", "inline"),
    )
