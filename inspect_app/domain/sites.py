"""Sites (生产经营单位): the register of places that get inspected."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from inspect_app.domain.access import district_scope
from inspect_app.domain.errors import Invalid, NotFound
from inspect_app.i18n import _
from inspect_app.models import District, Site, User


def list_sites(
    session: Session,
    user: User,
    *,
    district_id: int | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
    include_inactive: bool = False,
) -> tuple[list[Site], int]:
    """Sites the user works with (their district, or all for city-wide roles), by name."""
    query = select(Site)
    scope = district_scope(user)
    if scope is not None:
        query = query.where(Site.district_id == scope)
    if district_id is not None:
        query = query.where(Site.district_id == district_id)
    if q:
        query = query.where(Site.name.contains(q.strip()))
    if not include_inactive:
        query = query.where(Site.is_active.is_(True))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(Site.name, Site.id).offset(offset).limit(limit)).all()
    return list(rows), total


def get_site(session: Session, user: User, site_id: int) -> Site:
    site = session.get(Site, site_id)
    scope = district_scope(user)
    if site is None or (scope is not None and site.district_id != scope):
        raise NotFound(_("No such site."))
    return site


def resolve_district(session: Session, ref: str | int | None) -> District | None:
    """A district by id or by name (the API accepts either); None when no reference is given."""
    if ref is None or ref == "":
        return None
    district = None
    if isinstance(ref, int) or str(ref).isdigit():
        district = session.get(District, int(ref))
    if district is None:
        district = session.exec(select(District).where(District.name == str(ref))).first()
    if district is None:
        raise Invalid(_("Unknown district: {name}").format(name=ref))
    return district
