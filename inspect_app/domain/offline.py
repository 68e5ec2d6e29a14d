"""What a phone keeps to work without a network: the pages of one user worth opening offline.

The service worker asks for this list whenever the phone is online and keeps those pages; it
never decides on its own which pages are someone's work."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlmodel import Session

from inspect_app.domain import checklists, hazard_reports, hazards, inspections
from inspect_app.models import InspectionStatus, Role, User

OPEN_HAZARDS = 30  # the officer's open hazards kept offline, most recent first


def offline_pages(session: Session, user: User, zone: ZoneInfo) -> list[str]:
    """Page addresses to keep on the phone: the inspector's home, the start page, the empty
    checklist of every published version (one page per section) and each open draft; the
    officer's hazard list and their district's open hazards; for everyone who may report a
    hazard on its own, the report page."""
    urls: list[str] = []
    if user.role in (Role.inspector, Role.admin):
        urls += ["/inspections", "/inspections/new"]
        for _template, version in checklists.published_templates(session):
            for section in checklists.sections_of(session, version.id):
                urls.append(f"/inspections/form/{version.id}?section={section.key}")
        drafts, _total = inspections.list_inspections(
            session, user, status=InspectionStatus.draft, limit=50
        )
        for d in drafts:
            urls.append(inspections.page_address(d))
    if user.role in (Role.officer, Role.office, Role.admin):
        urls.append("/hazards")
        rows, _total = hazards.list_hazards(
            session, user, hazards.HazardFilters(zone, status="open"), limit=OPEN_HAZARDS
        )
        urls += [f"/hazards/{h.id}" for h in rows]
    if user.role in hazard_reports.REPORTING_ROLES:
        urls.append("/hazards/new")
    return urls
