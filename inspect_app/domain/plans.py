"""Inspection plans (检查计划 / 专项检查): the office (any district) or an officer (their own)
names a published checklist, the sites (picked, or every active site of a district and risk
classes), a window of local days and optionally the inspectors.

A site of a plan is done when an inspection of it with the plan's checklist (any version) is
submitted inside the window; progress is counted in one query for a page of plans. Inspectors
see the pending sites of their running plans first (assigned to them, or to nobody and in their
district).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from inspect_app.domain import checklists
from inspect_app.domain.access import district_scope, require_role
from inspect_app.domain.clock import start_of_day
from inspect_app.domain.errors import Forbidden, Invalid, NotFound
from inspect_app.i18n import _
from inspect_app.models import (
    ChecklistTemplate,
    District,
    Inspection,
    InspectionPlan,
    InspectionStatus,
    PlanInspector,
    PlanSite,
    Role,
    Site,
    TemplateVersion,
    User,
    utcnow,
)

PLANNING_ROLES = (Role.officer, Role.office, Role.admin)
MAX_SITES = 5000
MAX_NAME = 200
MAX_DAYS = 366
MAX_ID = 2**63 - 1  # an id no database column can hold matches nothing


@dataclass
class PlanProgress:
    plan: InspectionPlan
    template_name: str = ""
    district_name: str = ""
    sites_total: int = 0
    sites_done: int = 0
    inspector_ids: list[int] = field(default_factory=list)

    @property
    def share(self) -> float | None:
        return self.sites_done / self.sites_total if self.sites_total else None

    def state(self, today: date) -> str:
        """upcoming, running or finished on `today` (local day)."""
        if today < self.plan.starts:
            return "upcoming"
        return "finished" if today > self.plan.ends else "running"


@dataclass
class PlanSiteRow:
    site: Site
    district_name: str
    done_at: datetime | None
    inspection_id: int | None


def bad_dates_message() -> str:
    return _("Dates are YYYY-MM-DD.")


# --- creating -----------------------------------------------------------------------------------


def _pick_sites(
    session: Session,
    user: User,
    site_ids: list[int],
    district_id: int | None,
    risk_classes: list[str],
) -> list[Site]:
    """The plan's sites: those picked, or every active site of the district (and risk classes).
    Unknown or inactive sites are Invalid; another district's, for an officer, Forbidden."""
    scope = district_scope(user)
    if site_ids:
        ids = list(dict.fromkeys(site_ids))
        valid = [i for i in ids if 0 < i <= MAX_ID]
        found = {s.id: s for s in session.exec(select(Site).where(Site.id.in_(valid))).all()}
        unknown = [i for i in ids if i not in found or not found[i].is_active]
        if unknown:
            raise Invalid(
                _("Unknown or inactive sites: {ids}").format(ids=", ".join(map(str, unknown))),
                errors={"site_ids": _("Unknown or inactive sites.")},
            )
        sites = [found[i] for i in ids]
    else:
        if district_id is None and scope is None and not risk_classes:
            raise Invalid(
                _("Pick sites, or a district and risk classes."),
                errors={"site_ids": _("Pick sites, or a district and risk classes.")},
            )
        query = select(Site).where(Site.is_active.is_(True))
        district = district_id if district_id is not None else scope
        if district is not None:
            query = query.where(Site.district_id == district)
        if risk_classes:
            query = query.where(Site.risk_class.in_(risk_classes))
        sites = list(session.exec(query.order_by(Site.name, Site.id)).all())
    if scope is not None and any(s.district_id != scope for s in sites):
        raise Forbidden(_("An officer plans the sites of their own district only."))
    if not sites:
        raise Invalid(_("The plan has no sites."), errors={"site_ids": _("No site matches.")})
    if len(sites) > MAX_SITES:
        raise Invalid(_("At most {n} sites.").format(n=MAX_SITES))
    return sites


def _inspectors(session: Session, inspector_ids: list[int]) -> list[User]:
    ids = list(dict.fromkeys(inspector_ids))
    if not ids:
        return []
    found = {
        u.id: u
        for u in session.exec(
            select(User).where(
                User.id.in_([i for i in ids if 0 < i <= MAX_ID]),
                User.role == Role.inspector,
                User.is_active.is_(True),
            )
        ).all()
    }
    unknown = [i for i in ids if i not in found]
    if unknown:
        raise Invalid(
            _("Not an active inspector: {ids}").format(ids=", ".join(map(str, unknown))),
            errors={"inspector_ids": _("Not an active inspector.")},
        )
    return [found[i] for i in ids]


def create_plan(
    session: Session,
    user: User,
    *,
    name: str,
    template_id: int,
    starts: date,
    ends: date,
    site_ids: list[int] | None = None,
    district_id: int | None = None,
    risk_classes: list[str] | None = None,
    inspector_ids: list[int] | None = None,
    zone: ZoneInfo,
    now: datetime | None = None,
) -> InspectionPlan:
    """A new plan, in one transaction. Office and admin plan any district; an officer only
    theirs (403 otherwise). End before start, an unpublished checklist, no sites: 422."""
    require_role(user, *PLANNING_ROLES)
    name = (name or "").strip()
    errors: dict[str, str] = {}
    if not name or len(name) > MAX_NAME:
        errors["name"] = _("A name of 1 to 200 characters is required.")
    if ends < starts:
        errors["ends"] = _("The plan ends before it starts.")
    elif (ends - starts).days > MAX_DAYS:
        errors["ends"] = _("A plan lasts at most {n} days.").format(n=MAX_DAYS)
    template = session.get(ChecklistTemplate, template_id) if 0 < template_id <= MAX_ID else None
    if template is None or checklists.latest_published(session, template.id) is None:
        errors["template_id"] = _("Pick a published checklist.")
    if errors:
        raise Invalid(_("The inspection plan is incomplete or wrong."), errors=errors)
    scope = district_scope(user)
    if scope is not None and district_id is not None and district_id != scope:
        raise Forbidden(_("An officer plans the sites of their own district only."))
    sites = _pick_sites(session, user, list(site_ids or []), district_id, list(risk_classes or []))
    inspectors = _inspectors(session, list(inspector_ids or []))
    districts = {s.district_id for s in sites}
    plan = InspectionPlan(
        name=name,
        template_id=template.id,
        district_id=scope
        if scope is not None
        else (districts.pop() if len(districts) == 1 else None),
        starts=starts,
        ends=ends,
        window_start=start_of_day(starts, zone),
        window_end=start_of_day(ends + timedelta(days=1), zone),
        created_by=user.id,
        created_at=now or utcnow(),
    )
    session.add(plan)
    session.flush()
    for site in sites:
        session.add(PlanSite(plan_id=plan.id, site_id=site.id))
    for inspector in inspectors:
        session.add(PlanInspector(plan_id=plan.id, user_id=inspector.id))
    session.commit()
    return plan


# --- reading ------------------------------------------------------------------------------------


def _site_in(district_id: int):
    """Plans with a site in the district."""
    return InspectionPlan.id.in_(
        select(PlanSite.plan_id)
        .join(Site, Site.id == PlanSite.site_id)
        .where(Site.district_id == district_id)
    )


def _touches(district_id: int):
    """Plans of the district, or with a site in it."""
    return or_(InspectionPlan.district_id == district_id, _site_in(district_id))


def _visible(user: User):
    """Plans the user may see: city-wide roles all; an officer those touching their district;
    an inspector those assigned to them, or to nobody and touching their district."""
    query = select(InspectionPlan)
    if user.role in (Role.office, Role.admin):
        return query
    scope = district_scope(user)
    if user.role == Role.officer:
        return query.where(_touches(scope))
    assigned = select(PlanInspector.plan_id).where(PlanInspector.user_id == user.id)
    anyone = ~InspectionPlan.id.in_(select(PlanInspector.plan_id))
    return query.where(or_(InspectionPlan.id.in_(assigned), and_(anyone, _site_in(scope))))


def _done_rows(session: Session, plan_ids: list[int], as_of: datetime | None = None):
    """(plan, site, submitted_at, inspection id) of every inspection that completes a plan site."""
    window_end = InspectionPlan.window_end
    conditions = [
        Inspection.site_id == PlanSite.site_id,
        Inspection.status == InspectionStatus.submitted,
        Inspection.submitted_at >= InspectionPlan.window_start,
        Inspection.submitted_at < window_end,
    ]
    if as_of is not None:
        conditions.append(Inspection.submitted_at < as_of)
    return session.exec(
        select(PlanSite.plan_id, PlanSite.site_id, Inspection.submitted_at, Inspection.id)
        .join(InspectionPlan, InspectionPlan.id == PlanSite.plan_id)
        .join(Inspection, and_(*conditions))
        .join(
            TemplateVersion,
            and_(
                TemplateVersion.id == Inspection.template_version_id,
                TemplateVersion.template_id == InspectionPlan.template_id,
            ),
        )
        .where(PlanSite.plan_id.in_(plan_ids))
    ).all()


def progress(
    session: Session, plans: list[InspectionPlan], as_of: datetime | None = None
) -> list[PlanProgress]:
    """Each plan with its totals, done counts (as of `as_of`, default now), names and
    inspectors: a fixed number of queries for any number of plans."""
    ids = [p.id for p in plans]
    if not ids:
        return []
    totals = dict(
        session.exec(
            select(PlanSite.plan_id, func.count())
            .where(PlanSite.plan_id.in_(ids))
            .group_by(PlanSite.plan_id)
        ).all()
    )
    done: dict[int, set[int]] = {}
    for plan_id, site_id, _at, _id in _done_rows(session, ids, as_of):
        done.setdefault(plan_id, set()).add(site_id)
    templates = dict(
        session.exec(
            select(ChecklistTemplate.id, ChecklistTemplate.name_zh).where(
                ChecklistTemplate.id.in_({p.template_id for p in plans})
            )
        ).all()
    )
    districts = dict(session.exec(select(District.id, District.name)).all())
    inspectors: dict[int, list[int]] = {}
    for plan_id, user_id in session.exec(
        select(PlanInspector.plan_id, PlanInspector.user_id).where(PlanInspector.plan_id.in_(ids))
    ).all():
        inspectors.setdefault(plan_id, []).append(user_id)
    return [
        PlanProgress(
            plan=p,
            template_name=templates.get(p.template_id, ""),
            district_name=districts.get(p.district_id, "") if p.district_id else "",
            sites_total=totals.get(p.id, 0),
            sites_done=len(done.get(p.id, ())),
            inspector_ids=sorted(inspectors.get(p.id, [])),
        )
        for p in plans
    ]


def list_plans(
    session: Session,
    user: User,
    *,
    running_on: date | None = None,
    overlapping: tuple[date, date] | None = None,
    district_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[PlanProgress], int]:
    """A page of the plans the user may see, newest window first, with progress."""
    query = _visible(user)
    if running_on is not None:
        query = query.where(InspectionPlan.starts <= running_on, InspectionPlan.ends >= running_on)
    if overlapping is not None:
        first, last = overlapping
        query = query.where(InspectionPlan.starts <= last, InspectionPlan.ends >= first)
    if district_id is not None:
        query = query.where(_touches(district_id))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(InspectionPlan.starts.desc(), InspectionPlan.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return progress(session, list(rows)), total


def get_plan(session: Session, user: User, plan_id: int) -> InspectionPlan:
    plan = (
        session.exec(_visible(user).where(InspectionPlan.id == plan_id)).first()
        if 0 < plan_id <= MAX_ID
        else None
    )
    if plan is None:
        raise NotFound(_("No such plan."))
    return plan


def plan_sites(session: Session, plan: InspectionPlan) -> list[PlanSiteRow]:
    """The plan's sites with the first inspection that completed each (pending first)."""
    first: dict[int, tuple[datetime, int]] = {}
    for _plan, site_id, at, inspection_id in _done_rows(session, [plan.id]):
        if site_id not in first or (at, inspection_id) < first[site_id]:
            first[site_id] = (at, inspection_id)
    districts = dict(session.exec(select(District.id, District.name)).all())
    sites = session.exec(
        select(Site)
        .join(PlanSite, PlanSite.site_id == Site.id)
        .where(PlanSite.plan_id == plan.id)
        .order_by(Site.name, Site.id)
    ).all()
    rows = [
        PlanSiteRow(site, districts.get(site.district_id, ""), *first.get(site.id, (None, None)))
        for site in sites
    ]
    return sorted(rows, key=lambda r: r.done_at is not None)


def pending_site_ids(session: Session, user: User, today: date) -> set[int]:
    """Sites of the user's running plans not yet done: what an inspector should do first."""
    plans = session.exec(
        _visible(user).where(InspectionPlan.starts <= today, InspectionPlan.ends >= today)
    ).all()
    if not plans:
        return set()
    ids = [p.id for p in plans]
    done = {(plan, site) for plan, site, _at, _id in _done_rows(session, ids)}
    scope = district_scope(user)
    query = select(PlanSite.plan_id, PlanSite.site_id).where(PlanSite.plan_id.in_(ids))
    if scope is not None:
        query = query.join(Site, Site.id == PlanSite.site_id).where(Site.district_id == scope)
    return {site for plan, site in session.exec(query).all() if (plan, site) not in done}


def for_period(
    session: Session, first: date, last: date, district_id: int | None, as_of: datetime
) -> list[PlanProgress]:
    """Plans whose window overlaps [first, last] (of a district, or all), with their progress as
    of `as_of`: the weekly report's plans section."""
    query = select(InspectionPlan).where(
        InspectionPlan.starts <= last, InspectionPlan.ends >= first
    )
    if district_id is not None:
        query = query.where(_touches(district_id))
    rows = session.exec(query.order_by(InspectionPlan.ends, InspectionPlan.id)).all()
    return progress(session, list(rows), as_of)
