"""The phone page to report a hazard on its own (随手拍): a plain multipart form (site, grade,
category, description, photos straight from the camera) that works without JavaScript; the
same domain function as POST /api/v1/hazards. Registered before /hazards/{hazard_id}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile

from inspect_app.deps import CurrentUser, SessionDep, SettingsDep
from inspect_app.domain import hazard_reports, parsing, photos, sites
from inspect_app.domain.access import require_role
from inspect_app.domain.errors import Invalid, TooLarge, UnsupportedMedia
from inspect_app.i18n import _
from inspect_app.web.forms import form_dependency
from inspect_app.web.rendering import form_nonce, render

router = APIRouter(include_in_schema=False)

FormDep = form_dependency(hazard_reports.MAX_PHOTOS, max_fields=50)
MAX_SITES = 1000


def _number(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _page(request, session, user, values: dict, errors: dict | None = None, status_code=200):
    rows, _total = sites.list_sites(session, user, limit=MAX_SITES)
    return render(
        request,
        "hazards/new.html",
        {"sites": rows, "values": values, "errors": errors or {}},
        status_code=status_code,
    )


@router.get("/hazards/new")
def new(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    site_id: Annotated[int | None, Query(ge=1)] = None,
):
    require_role(user, *hazard_reports.REPORTING_ROLES)
    values = {"client_uuid": form_nonce(request), "site_id": site_id, "grade": "general"}
    return _page(request, session, user, values)


@router.post("/hazards/new")
def create(
    request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser, form: FormDep
):
    require_role(user, *hazard_reports.REPORTING_ROLES)
    values = {
        k: str(form.get(k) or "") for k in ("client_uuid", "grade", "category", "description")
    }
    raw_site = str(form.get("site_id") or "")
    values["site_id"] = int(raw_site) if raw_site.isascii() and raw_site.isdigit() else None
    try:
        report = hazard_reports.HazardReport(
            client_uuid=values["client_uuid"],
            site_id=parsing.parse_id(raw_site, _("Site")) or 0,
            grade=values["grade"],
            category=values["category"],
            description=values["description"],
            lat=_number(form.get("lat")),
            lon=_number(form.get("lon")),
            photo_ids=parsing.parse_ids(form.getlist("photo_ids"), _("Photos")),
        )
        for upload in form.getlist("files"):
            if isinstance(upload, UploadFile) and upload.filename:
                report.photo_ids.append(
                    photos.ingest(
                        session, settings, user, upload.file, upload.filename, upload.content_type
                    ).id
                )
        hazard, _created = hazard_reports.report_hazard(session, user, report)
    except (Invalid, TooLarge, UnsupportedMedia) as exc:
        # The form again with what was typed and the reason (a photo that is not an image, too
        # large, a rule broken): the inspector corrects it rather than losing it.
        errors = exc.errors if isinstance(exc.errors, dict) else {}
        errors.setdefault("form", exc.message)
        return _page(request, session, user, values, errors, status_code=exc.status_code)
    return RedirectResponse(f"/hazards/{hazard.id}", status_code=303)
