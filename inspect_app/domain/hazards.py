"""Hazards (隐患): listing with filters, overdue, and reading one with its history.

Overdue is computed from the deadline and the clock, never stored as a flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func
from sqlmodel import Session, select

from inspect_app.domain.access import district_scope
from inspect_app.domain.clock import local_today, start_of_day
from inspect_app.domain.errors import Invalid, NotFound
from inspect_app.i18n import _
from inspect_app.models import (
    District,
    Hazard,
    HazardEvent,
    HazardPhoto,
    HazardStatus,
    Photo,
    RectificationPlan,
    Role,
    Site,
    User,
    utcnow,
)

OPEN_STATUSES = (HazardStatus.reported, HazardStatus.rectifying, HazardStatus.rectified)
STATUS_FILTERS = {"open", *HazardStatus.__members__}


@dataclass
class HazardFilters:
    """The filters of the hazard list, shared by the API, the pages, the map and the exports."""

    district_id: int | None = None
    status: str | None = None  # a status, or "open" (not yet accepted)
    grade: str | None = None
    overdue: bool | None = None
    since: date | None = None  # created on or after (local date)
    until: date | None = None  # created on or before (local date)
    site_id: int | None = None
    category: str | None = None
    inspection_id: int | None = None

    def check(self) -> "HazardFilters":
        if self.status and self.status not in STATUS_FILTERS:
            raise Invalid(_("Unknown status: {status}").format(status=self.status))
        if self.grade and self.grade not in ("general", "major"):
            raise Invalid(_("Unknown grade: {grade}").format(grade=self.grade))
        if self.since and self.until and self.since > self.until:
            raise Invalid(_("The period starts after it ends."))
        return self


def overdue_clause(today: date):
    """SQL condition for 'past its deadline and not accepted'."""
    return and_(
        Hazard.status != HazardStatus.accepted,
        Hazard.deadline.is_not(None),
        Hazard.deadline < today,
    )


def is_overdue(hazard: Hazard, today: date | None = None) -> bool:
    today = today or local_today()
    return (
        hazard.status != HazardStatus.accepted
        and hazard.deadline is not None
        and hazard.deadline < today
    )


def visible_hazards_query(user: User):
    """Hazards the user may see: city-wide roles all; officers their district; inspectors
    the hazards they reported."""
    query = select(Hazard)
    if user.role == Role.inspector:
        return query.where(Hazard.reporter_id == user.id)
    scope = district_scope(user)
    if scope is not None:
        query = query.where(Hazard.district_id == scope)
    return query


def apply_filters(query, filters: HazardFilters, today: date | None = None):
    today = today or local_today()
    f = filters
    if f.district_id is not None:
        query = query.where(Hazard.district_id == f.district_id)
    if f.status == "open":
        query = query.where(Hazard.status.in_(OPEN_STATUSES))
    elif f.status:
        query = query.where(Hazard.status == f.status)
    if f.grade:
        query = query.where(Hazard.grade == f.grade)
    if f.overdue is True:
        query = query.where(overdue_clause(today))
    elif f.overdue is False:
        query = query.where(~overdue_clause(today))
    if f.since:
        query = query.where(Hazard.created_at >= start_of_day(f.since))
    if f.until:
        query = query.where(Hazard.created_at < start_of_day(date.fromordinal(f.until.toordinal() + 1)))
    if f.site_id is not None:
        query = query.where(Hazard.site_id == f.site_id)
    if f.category:
        query = query.where(Hazard.category == f.category)
    if f.inspection_id is not None:
        query = query.where(Hazard.inspection_id == f.inspection_id)
    return query


def list_hazards(
    session: Session, user: User, filters: HazardFilters, *, limit: int = 50, offset: int = 0
) -> tuple[list[Hazard], int]:
    """One page of visible hazards matching the filters, newest first, and the total."""
    query = apply_filters(visible_hazards_query(user), filters.check())
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(Hazard.created_at.desc(), Hazard.id.desc()).offset(offset).limit(limit)
    ).all()
    return list(rows), total


def get_hazard(session: Session, user: User, hazard_id: int) -> Hazard:
    """A hazard the user may see; 404 otherwise (not revealing that it exists)."""
    hazard = session.exec(visible_hazards_query(user).where(Hazard.id == hazard_id)).first()
    if hazard is None:
        raise NotFound(_("No such hazard."))
    return hazard


def hazard_context(session: Session, hazards: list[Hazard]) -> dict[str, dict[int, Any]]:
    """Names of the sites and districts of a page of hazards, fetched in two queries."""
    site_ids = {h.site_id for h in hazards}
    district_ids = {h.district_id for h in hazards}
    sites = {s.id: s for s in session.exec(select(Site).where(Site.id.in_(site_ids))).all()} if site_ids else {}
    districts = (
        {d.id: d for d in session.exec(select(District).where(District.id.in_(district_ids))).all()}
        if district_ids
        else {}
    )
    return {"sites": sites, "districts": districts}


def hazard_events(session: Session, hazard_id: int) -> list[HazardEvent]:
    return list(
        session.exec(
            select(HazardEvent).where(HazardEvent.hazard_id == hazard_id).order_by(HazardEvent.at, HazardEvent.id)
        ).all()
    )


def hazard_plan(session: Session, hazard_id: int) -> RectificationPlan | None:
    return session.exec(select(RectificationPlan).where(RectificationPlan.hazard_id == hazard_id)).first()


def hazard_photos(session: Session, hazard_id: int, kind: str | None = None) -> list[Photo]:
    query = (
        select(Photo)
        .join(HazardPhoto, HazardPhoto.photo_id == Photo.id)
        .where(HazardPhoto.hazard_id == hazard_id)
    )
    if kind:
        query = query.where(HazardPhoto.kind == kind)
    return list(session.exec(query.order_by(HazardPhoto.position)).all())



def create_hazard(
    session: Session,
    *,
    reporter: User,
    site: Site,
    grade: str,
    description: str,
    category: str = "",
    photo_ids: list[int] | tuple[int, ...] = (),
    lat: float | None = None,
    lon: float | None = None,
    location_district_id: int | None = None,
    inspection_id: int | None = None,
    item_id: int | None = None,
    now: datetime | None = None,
) -> Hazard:
    """Record a new hazard with its finding photos and its 'created' event.

    Does not commit: the caller (an inspection submit, or a stand-alone report) owns the
    transaction, so that the inspection and its hazards are stored together or not at all.
    """
    now = now or utcnow()
    if grade not in ("general", "major"):
        raise Invalid(_("Unknown grade: {grade}").format(grade=grade))
    hazard = Hazard(
        inspection_id=inspection_id, item_id=item_id, site_id=site.id, district_id=site.district_id,
        reporter_id=reporter.id, grade=grade, category=category, description=description,
        status=HazardStatus.reported, created_at=now, updated_at=now, lat=lat, lon=lon,
        location_district_id=location_district_id,
    )
    session.add(hazard)
    session.flush()
    for position, photo_id in enumerate(photo_ids):
        session.add(HazardPhoto(hazard_id=hazard.id, photo_id=photo_id, kind="finding", position=position))
    session.add(
        HazardEvent(hazard_id=hazard.id, actor_id=reporter.id, at=now, action="created", from_status=None,
                    to_status=HazardStatus.reported,
                    payload={"grade": grade, "description": description, "inspection_id": inspection_id}),
    )
    return hazard
