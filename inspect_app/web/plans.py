"""Inspection plan pages: the list with progress, a form to create one (office: any district,
officer: their own) and a plan's page to follow it, site by site. Plain forms, no script."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from sqlmodel import select

from inspect_app.deps import CurrentUser, SessionDep
from inspect_app.domain import checklists, parsing, plans, sites
from inspect_app.domain.access import district_scope, require_role
from inspect_app.domain.clock import local_today
from inspect_app.domain.errors import Invalid
from inspect_app.domain.sites import RISK_CLASSES
from inspect_app.i18n import _
from inspect_app.models import District, Role, User
from inspect_app.web.forms import form_dependency
from inspect_app.web.rendering import render

router = APIRouter(include_in_schema=False)

FormDep = form_dependency(0, max_fields=plans.MAX_SITES + 600)
PAGE = 50
MAX_FORM_SITES = 1000


@router.get("/plans")
def plan_list(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
):
    rows, total = plans.list_plans(session, user, limit=PAGE, offset=offset)
    return render(
        request,
        "plans/list.html",
        {
            "rows": rows,
            "total": total,
            "offset": offset,
            "page": PAGE,
            "today": local_today(request.app.state.settings.zone),
            "can_plan": user.role in plans.PLANNING_ROLES,
        },
    )


def _form(request, session, user: User, values: dict, errors: dict | None = None, status=200):
    scope = district_scope(user)
    districts = session.exec(select(District).order_by(District.code)).all()
    site_rows, _total = sites.list_sites(session, user, limit=MAX_FORM_SITES)
    inspectors = select(User).where(User.role == Role.inspector, User.is_active.is_(True))
    if scope is not None:
        inspectors = inspectors.where(User.district_id == scope)
    return render(
        request,
        "plans/new.html",
        {
            "values": values,
            "errors": errors or {},
            "templates": checklists.published_templates(session),
            "districts": [d for d in districts if scope is None or d.id == scope],
            "sites": site_rows,
            "inspectors": session.exec(inspectors.order_by(User.username)).all(),
            "risk_classes": RISK_CLASSES,
        },
        status_code=status,
    )


@router.get("/plans/new")
def new(request: Request, session: SessionDep, user: CurrentUser):
    require_role(user, *plans.PLANNING_ROLES)
    today = local_today(request.app.state.settings.zone)
    values = {
        "starts": today.isoformat(),
        "ends": (today + timedelta(days=30)).isoformat(),
        "site_ids": [],
        "risk_classes": [],
        "inspector_ids": [],
    }
    return _form(request, session, user, values)


def _shown_ids(values: list) -> list[int]:
    """The ticked ids to show again on a refused form (the strict parse reports bad ones)."""
    return [int(v) for v in values if str(v).isascii() and str(v).isdigit()]


def _day(value: str, field: str) -> date | None:
    message = plans.bad_dates_message()
    return parsing.parse_date(value, message, errors={field: message})


@router.post("/plans/new")
def create(request: Request, session: SessionDep, user: CurrentUser, form: FormDep):
    require_role(user, *plans.PLANNING_ROLES)
    values = {
        "name": str(form.get("name") or ""),
        "template_id": str(form.get("template_id") or ""),
        "district": str(form.get("district") or ""),
        "starts": str(form.get("starts") or ""),
        "ends": str(form.get("ends") or ""),
        "site_ids": _shown_ids(form.getlist("site_ids")),
        "risk_classes": [str(v) for v in form.getlist("risk_classes") if v in RISK_CLASSES],
        "inspector_ids": _shown_ids(form.getlist("inspector_ids")),
    }
    try:
        starts, ends = _day(values["starts"], "starts"), _day(values["ends"], "ends")
        if starts is None or ends is None:
            raise Invalid(
                plans.bad_dates_message(),
                errors={"starts" if starts is None else "ends": plans.bad_dates_message()},
            )
        district = sites.resolve_district(session, values["district"] or None)
        plan = plans.create_plan(
            session,
            user,
            name=values["name"],
            template_id=parsing.parse_id(values["template_id"], _("Checklist")) or 0,
            starts=starts,
            ends=ends,
            site_ids=parsing.parse_ids(form.getlist("site_ids"), _("Sites")),
            district_id=district.id if district else None,
            risk_classes=values["risk_classes"],
            inspector_ids=parsing.parse_ids(form.getlist("inspector_ids"), _("Inspectors")),
            zone=request.app.state.settings.zone,
        )
    except Invalid as exc:
        errors = dict(exc.errors) if isinstance(exc.errors, dict) else {}
        errors["form"] = exc.message
        return _form(request, session, user, values, errors, status=422)
    return RedirectResponse(f"/plans/{plan.id}", status_code=303)


@router.get("/plans/{plan_id}")
def show(request: Request, plan_id: int, session: SessionDep, user: CurrentUser):
    plan = plans.get_plan(session, user, plan_id)
    (row,) = plans.progress(session, [plan])
    return render(
        request,
        "plans/show.html",
        {
            "p": row,
            "sites": plans.plan_sites(session, plan),
            "today": local_today(request.app.state.settings.zone),
        },
    )
