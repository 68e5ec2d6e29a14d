"""Weekly PDF reports, their archive, and the hazard exports (CSV, Excel)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from inspect_app.deps import CurrentUser, OfficerUser, SessionDep, SettingsDep, TodayDep
from inspect_app.domain import exports, reports
from inspect_app.filters import FiltersDep
from inspect_app.web.downloads import content_disposition
from inspect_app.web.rendering import render

router = APIRouter(tags=["reports"])


@router.get("/exports/hazards.csv")
def export_csv(session: SessionDep, user: CurrentUser, filters: FiltersDep, today: TodayDep):
    """Streamed: rows are read in batches while the response is sent (the session lives until it ends)."""
    rows = exports.hazard_rows(session, user, filters)
    return StreamingResponse(
        exports.csv_chunks(rows),
        media_type="text/csv; charset=utf-8",
        headers=content_disposition(f"hazards-{today:%Y%m%d}.csv"),
    )


@router.get("/exports/hazards.xlsx")
def export_xlsx(session: SessionDep, user: CurrentUser, filters: FiltersDep, today: TodayDep):
    exports.check_excel_size(session, user, filters)
    rows = exports.hazard_rows(session, user, filters)
    return StreamingResponse(
        exports.xlsx_chunks(rows),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=content_disposition(f"hazards-{today:%Y%m%d}.xlsx"),
    )


@router.get("/reports", include_in_schema=False)  # a page, not part of the API
def reports_page(request: Request, session: SessionDep, user: OfficerUser, today: TodayDep):
    ctx = reports.page_context(session, user, today)
    return render(request, "reports/index.html", {**ctx, "user": user})


@router.get("/reports/weekly", include_in_schema=False)  # the page's form: a redirect
def weekly_form(
    session: SessionDep,
    settings: SettingsDep,
    user: OfficerUser,
    week: Annotated[str, Query(max_length=10)],
    district: Annotated[str | None, Query(max_length=100)] = None,
):
    """The no-JavaScript form on /reports: checks the choice and redirects to the PDF's address."""
    target = reports.check_request(session, user, week, district, zone=settings.zone)
    query = f"?district={target.district.id}" if target.district else ""
    return RedirectResponse(f"/reports/weekly/{target.week.label}.pdf{query}", status_code=303)


@router.get("/reports/weekly/{week}.pdf")
def weekly_pdf(
    week: str,
    session: SessionDep,
    settings: SettingsDep,
    user: OfficerUser,
    district: Annotated[str | None, Query(max_length=100)] = None,
):
    target = reports.check_request(session, user, week, district, zone=settings.zone)
    content, stored = reports.weekly_report(session, settings, target, user=user)
    headers = content_disposition(reports.filename(target), "inline")
    if stored is not None:
        headers["ETag"] = f'"{stored.sha256}"'
    return Response(content, media_type="application/pdf", headers=headers)


@router.get("/reports/archive/{report_id}.pdf")
def archived_pdf(report_id: int, session: SessionDep, settings: SettingsDep, user: OfficerUser):
    """A stored report exactly as it was made (also earlier versions of a week)."""
    stored, content = reports.archived(session, settings, user, report_id)
    return Response(
        content,
        media_type="application/pdf",
        headers={
            **content_disposition(reports.stored_filename(session, stored), "inline"),
            "ETag": f'"{stored.sha256}"',
        },
    )
