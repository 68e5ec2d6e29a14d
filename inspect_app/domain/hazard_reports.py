"""Hazards reported on their own (随手拍): found outside a checklist, by an inspector or an
officer on the spot. They enter the same closed loop as any hazard (domain/hazards.py): same
'created' event, same authorisation, same list.

Idempotency rests on the unique Hazard.client_uuid: a phone that retries on a bad network gets
the first hazard back and nothing new is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from inspect_app.domain import geo, hazards, photos
from inspect_app.domain.access import district_scope, require_role
from inspect_app.domain.errors import Conflict, Forbidden, Invalid
from inspect_app.i18n import _
from inspect_app.models import Grade, Hazard, Role, Site, User, utcnow

REPORTING_ROLES = (Role.inspector, Role.officer, Role.office, Role.admin)
MAX_UUID = 64
MAX_CATEGORY = 200
MAX_DESCRIPTION = 2000
MAX_PHOTOS = 20
MAX_ID = 2**63 - 1


@dataclass
class HazardReport:
    """What the phone sends (the API body, or the page's form)."""

    client_uuid: str
    site_id: int
    grade: str
    description: str
    category: str = ""
    lat: float | None = None
    lon: float | None = None
    photo_ids: list[int] = field(default_factory=list)


def _by_uuid(session: Session, user: User, client_uuid: str) -> Hazard | None:
    found = session.exec(select(Hazard).where(Hazard.client_uuid == client_uuid)).first()
    if found is not None and found.reporter_id != user.id:
        raise Conflict(_("This client_uuid is already used."))
    return found


def _site(session: Session, user: User, site_id: int) -> Site:
    """An active site of the user's district (any, for city-wide roles): unknown or inactive
    is 422, another district's is 403."""
    site = session.get(Site, site_id) if 0 < site_id <= MAX_ID else None
    if site is None:
        raise Invalid(_("Unknown site."), errors={"site_id": _("Unknown site.")})
    scope = district_scope(user)
    if scope is not None and site.district_id != scope:
        raise Forbidden(_("This site belongs to another district."))
    if not site.is_active:
        raise Invalid(
            _("This site is no longer active."),
            errors={"site_id": _("This site is no longer active.")},
        )
    return site


def _check(report: HazardReport) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not report.client_uuid or len(report.client_uuid) > MAX_UUID:
        errors["client_uuid"] = _("A client_uuid of 1 to 64 characters is required.")
    if report.grade not in Grade.__members__:
        errors["grade"] = _("Unknown grade: {grade}").format(grade=report.grade)
    if not report.description:
        errors["description"] = _("Describe the hazard.")
    elif len(report.description) > MAX_DESCRIPTION:
        errors["description"] = _("At most {n} characters.").format(n=MAX_DESCRIPTION)
    if len(report.category) > MAX_CATEGORY:
        errors["category"] = _("At most {n} characters.").format(n=MAX_CATEGORY)
    if (report.lat is None) != (report.lon is None) or (
        report.lat is not None and not (-90 <= report.lat <= 90 and -180 <= report.lon <= 180)
    ):
        errors["location"] = _("The latitude or longitude is out of range.")
    if any(not 0 < i <= MAX_ID for i in report.photo_ids):
        errors["photo_ids"] = _("Unknown photo.")
    elif len(report.photo_ids) > MAX_PHOTOS:
        errors["photo_ids"] = _("At most {n} photos.").format(n=MAX_PHOTOS)
    return errors


def report_hazard(
    session: Session, user: User, report: HazardReport, now: datetime | None = None
) -> tuple[Hazard, bool]:
    """Record a hazard found outside a checklist: (hazard, whether this call created it).

    The same client_uuid again (from the same user) returns the first hazard; another user's
    client_uuid is a Conflict. An unknown or inactive site is Invalid (422), another
    district's Forbidden (403).
    """
    require_role(user, *REPORTING_ROLES)
    report.client_uuid = (report.client_uuid or "").strip()
    report.description = (report.description or "").strip()
    report.category = (report.category or "").strip()
    existing = _by_uuid(session, user, report.client_uuid) if report.client_uuid else None
    if existing is not None:
        return existing, False
    errors = _check(report)
    if errors:
        raise Invalid(_("The hazard report is incomplete or wrong."), errors=errors)
    site = _site(session, user, report.site_id)
    ids = [p.id for p in photos.owned(session, user, report.photo_ids)]
    point = (report.lat, report.lon) if report.lat is not None else None
    if point is None and site.lat is not None:
        point = (site.lat, site.lon)
    found = geo.district_at(session, *point) if point else None
    try:
        hazard = hazards.create_hazard(
            session,
            reporter=user,
            site=site,
            grade=report.grade,
            category=report.category,
            description=report.description,
            photo_ids=ids,
            lat=point[0] if point else None,
            lon=point[1] if point else None,
            location_district_id=found if found not in (None, site.district_id) else None,
            now=now or utcnow(),
        )
        hazard.client_uuid = report.client_uuid
        session.add(hazard)
        session.commit()
    except IntegrityError:  # an identical post won the race: answer with its hazard
        session.rollback()
        first = _by_uuid(session, user, report.client_uuid)
        if first is None:
            raise
        return first, False
    session.refresh(hazard)
    return hazard, True
