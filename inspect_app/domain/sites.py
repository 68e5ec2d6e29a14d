"""Sites (生产经营单位): the register of places that get inspected, kept by the admin in the
browser or imported from Excel. Sites are deactivated, never deleted: inspections refer to them."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, select

from inspect_app.domain import audit, geo, spreadsheet
from inspect_app.domain import due as due_rules
from inspect_app.domain.access import district_scope
from inspect_app.domain.clock import local_today
from inspect_app.domain.errors import Invalid, NotFound
from inspect_app.domain.parsing import parse_id
from inspect_app.domain.transactions import user_action
from inspect_app.i18n import _
from inspect_app.models import District, DueStatus, Site, User

RISK_CLASSES = ("A", "B", "C", "D")
SITE_COLUMNS = ("name", "address", "district", "risk_class", "cadence", "lat", "lon")
SITE_REQUIRED = ("name", "district")


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
    query = scoped_sites(select(Site), user, district_id, q, include_inactive)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(Site.name, Site.id).offset(offset).limit(limit)).all()
    return list(rows), total


def scoped_sites(
    query, user: User, district_id: int | None, q: str | None, include_inactive: bool = False
):
    """The site-list conditions: the user's district scope, a district, a name fragment."""
    scope = district_scope(user)
    if scope is not None:
        query = query.where(Site.district_id == scope)
    if district_id is not None:
        query = query.where(Site.district_id == district_id)
    if q:
        query = query.where(Site.name.contains(q.strip()))
    if not include_inactive:
        query = query.where(Site.is_active.is_(True))
    return query


def due_sites(
    session: Session,
    user: User,
    *,
    now: datetime,
    soon_days: int,
    zone: ZoneInfo,
    district_id: int | None = None,
    due: DueStatus | str | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
    include_inactive: bool = False,
    by_urgency: bool = False,
) -> tuple[list[due_rules.SiteDue], int]:
    """One page of sites with their due status, computed, filtered and counted in the query.

    Ordered by name, or by_urgency: overdue, never inspected, due soon, then the rest, each
    group longest-waiting first."""
    status = due_rules.status_expression(session, now, soon_days).label("due_status")
    base = scoped_sites(select(Site, status), user, district_id, q, include_inactive)
    if due:
        base = base.where(status == DueStatus(due).value)
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    order = (
        (
            due_rules.urgency_expression(status),
            Site.last_inspected_at.is_not(None),
            Site.last_inspected_at,
            Site.name,
            Site.id,
        )
        if by_urgency
        else (Site.name, Site.id)
    )
    rows = session.exec(base.order_by(*order).offset(offset).limit(limit)).all()
    today = local_today(zone, now)
    return [
        due_rules.SiteDue(site, DueStatus(s), due_rules.next_due(site, zone, today))
        for site, s in rows
    ], total


def get_site(session: Session, user: User, site_id: int) -> Site:
    site = session.get(Site, site_id)
    scope = district_scope(user)
    if site is None or (scope is not None and site.district_id != scope):
        raise NotFound(_("No such site."))
    return site


def resolve_district(session: Session, ref: str | int | None) -> District | None:
    """A district by id or by name (pages and API accept either); None when no reference is
    given. A reference in ASCII digits is an id (a name is never all digits)."""
    if ref is None or (isinstance(ref, str) and not ref.strip()):
        return None
    district = None
    if isinstance(ref, int) or re.fullmatch(r"[0-9]+", str(ref).strip(), re.ASCII):
        district_id = parse_id(ref, _("District"))
        district = session.get(District, district_id)
    else:
        if len(str(ref)) > 100:
            raise Invalid(_("Unknown district: {name}").format(name=str(ref)[:100]))
        district = session.exec(select(District).where(District.name == str(ref).strip())).first()
    if district is None:
        district = session.exec(select(District).where(District.name == str(ref))).first()
    if district is None:
        raise Invalid(_("Unknown district: {name}").format(name=ref))
    return district


def _number(raw: Any, errors: dict[str, str], field: str) -> float | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        errors[field] = _("A number, or nothing.")
        return None


def check_site(
    session: Session, values: dict[str, Any], districts: dict[str, District] | None = None
) -> dict[str, Any]:
    """Site fields from a form or a spreadsheet row, checked; errors name the field.

    values: name, address, district (id or name), risk_class, cadence_days, lat, lon.
    """
    errors: dict[str, str] = {}
    name = str(values.get("name") or "").strip()
    if not name or len(name) > 200:
        errors["name"] = _("A name of 1 to 200 characters is required.")
    address = str(values.get("address") or "").strip()
    if len(address) > 300:
        errors["address"] = _("At most {n} characters.").format(n=300)
    district = None
    ref = values.get("district")
    try:
        district = (
            districts.get(str(ref)) if districts is not None else resolve_district(session, ref)
        )
    except Invalid:
        pass
    if district is None:
        errors["district"] = _("Unknown district: {name}").format(name=ref or "")
    risk_class = str(values.get("risk_class") or "C").strip().upper()
    if risk_class not in RISK_CLASSES:
        errors["risk_class"] = _("The risk class is one of A, B, C, D.")
    cadence = _number(values.get("cadence_days"), errors, "cadence_days")
    cadence = 30 if cadence is None else cadence
    if not float(cadence).is_integer() or not 1 <= cadence <= 3650:
        errors["cadence_days"] = _("The cadence is a whole number of days from 1 to 3650.")
    lat = _number(values.get("lat"), errors, "lat")
    lon = _number(values.get("lon"), errors, "lon")
    if (lat is None) != (lon is None):
        errors["lat"] = _("Give both latitude and longitude, or neither.")
    elif lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        errors["lat"] = _("The latitude or longitude is out of range.")
    if errors:
        raise Invalid(_("The site cannot be saved."), errors=errors)
    return {
        "name": name,
        "address": address,
        "district_id": district.id,
        "risk_class": risk_class,
        "cadence_days": int(cadence),
        "lat": lat,
        "lon": lon,
    }


def location_warning(
    session: Session,
    fields: dict[str, Any] | Site,
    locate: Callable[[float, float], int | None] | None = None,
) -> str | None:
    """A warning when the site's point lies outside its district's boundary (it is kept anyway).

    locate: a geo.district_locator, when many sites are checked.
    """
    get = fields.get if isinstance(fields, dict) else lambda k: getattr(fields, k)
    if get("lat") is None:
        return None
    found = (locate or geo.district_locator(session))(get("lat"), get("lon"))
    if found == get("district_id"):
        return None
    district = session.get(District, get("district_id"))
    return _("The location lies outside {district}; check the point.").format(
        district=district.name if district else ""
    )


@user_action
def save_site(session: Session, actor_id: int, site_id: int | None, fields: dict[str, Any]) -> Site:
    """Add a site (site_id None) or change one, with fields from check_site."""
    site = Site() if site_id is None else session.get(Site, site_id)
    if site is None:
        raise NotFound(_("No such site."))
    before = {k: getattr(site, k) for k in fields} if site_id else None
    for name, value in fields.items():
        setattr(site, name, value)
    session.add(site)
    session.flush()
    changed = {k: v for k, v in fields.items() if before is None or before[k] != v}
    audit.record(
        session, actor_id, "site.edit" if site_id else "site.add", "site", site.id, changed
    )
    session.commit()
    return site


def set_site_active(session: Session, actor_id: int, site_id: int, active: bool) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound(_("No such site."))
    site.is_active = active
    session.add(site)
    audit.record(
        session,
        actor_id,
        "site.activate" if active else "site.deactivate",
        "site",
        site.id,
        {"name": site.name},
    )
    session.commit()
    return site


@user_action
def import_sites_xlsx(session: Session, actor_id: int, data: bytes) -> dict[str, list[str]]:
    """Add or update (matched by name and district) every row of a sheet, or none when any is wrong.

    Returns {"added": [...], "updated": [...], "warnings": [...]}; problems raise Invalid with all rows.
    """
    workbook = spreadsheet.open_workbook(data)
    problems: list[str] = []
    try:
        rows = spreadsheet.read_table(workbook, SITE_COLUMNS, SITE_REQUIRED, problems)
    finally:
        workbook.close()
    districts = {d.name: d for d in session.exec(select(District)).all()}
    existing = {(s.name, s.district_id): s for s in session.exec(select(Site)).all()}
    seen: dict[tuple[str, int], int] = {}
    report: dict[str, list[str]] = {"added": [], "updated": [], "warnings": []}
    planned = []
    for row in rows:
        values = {
            "name": row.text("name", required=True, max_length=200),
            "address": row.text("address", max_length=300),
            "district": row.text("district", required=True, max_length=100),
            "risk_class": row.text("risk_class", max_length=10),
            "cadence_days": row.numeric("cadence"),
            "lat": row.numeric("lat"),
            "lon": row.numeric("lon"),
        }
        try:
            fields = check_site(session, values, districts)
        except Invalid as exc:
            for message in exc.errors.values():
                row.problem(message)
            continue
        match = (fields["name"], fields["district_id"])
        if match in seen:
            row.problem(
                _("{name} appears again (first in row {row}).").format(
                    name=fields["name"], row=seen[match]
                )
            )
            continue
        seen[match] = row.number
        planned.append((row.number, existing.get(match), fields))
    if not rows and not problems:
        problems.append(_("The sheet has no sites."))
    if problems:
        raise Invalid(_("The spreadsheet has problems; nothing was imported."), errors=problems)
    locate = geo.district_locator(session)
    for number, site, fields in planned:
        report["updated" if site else "added"].append(fields["name"])
        site = site or Site()
        for name, value in fields.items():
            setattr(site, name, value)
        session.add(site)
        warning = location_warning(session, fields, locate)
        if warning:
            report["warnings"].append(_("Row {row}: {problem}").format(row=number, problem=warning))
    audit.record(
        session,
        actor_id,
        "site.import",
        "site",
        None,
        {"added": len(report["added"]), "updated": len(report["updated"])},
    )
    session.commit()
    return report
