"""inspect-app demo: a believable city, made through the domain rules, and idempotent."""

from collections import Counter
from zoneinfo import ZoneInfo

from shapely.geometry import Point, shape
from sqlalchemy import func
from sqlmodel import select

from inspect_app.config import DEFAULT_TIMEZONE
from inspect_app.domain import clock, demo, hazards, plans
from inspect_app.domain import sites as sites_domain
from inspect_app.domain.clock import local_today
from inspect_app.models import (
    District,
    Hazard,
    HazardEvent,
    Inspection,
    InspectionPlan,
    Photo,
    Role,
    Site,
    TemplateItem,
    User,
)

ZONE = ZoneInfo(DEFAULT_TIMEZONE)


def counts(session):
    return {
        m.__name__: session.exec(select(func.count()).select_from(m)).one()
        for m in (District, Site, User, Inspection, Hazard, HazardEvent, Photo)
    }


def test_demo_city(session, settings, monkeypatch):
    monkeypatch.setenv("INSPECT_DEMO_PASSWORD", "demo-password-1")
    lines: list[str] = []
    demo.load(session, settings, progress=lines.append)
    assert lines[-1].startswith("Demo ready")

    districts = session.exec(select(District)).all()
    assert len(districts) == 12
    sites = session.exec(select(Site)).all()
    assert len(sites) >= 60
    boundary = {d.id: shape(d.boundary) for d in districts}
    assert all(boundary[s.district_id].contains(Point(s.lon, s.lat)) for s in sites)
    assert len({s.name for s in sites}) == len(sites)

    roles = Counter(u.role for u in session.exec(select(User)).all())
    assert (
        roles[Role.admin] >= 1
        and roles[Role.office] >= 1
        and roles[Role.officer] == 12
        and roles[Role.inspector] == 12
    )

    all_hazards = session.exec(select(Hazard)).all()
    statuses = Counter(h.status for h in all_hazards)
    assert set(statuses) == {"reported", "rectifying", "rectified", "accepted"} or (
        statuses["accepted"] and statuses["rectifying"]
    ), statuses
    assert any(h.grade == "major" for h in all_hazards)
    today = local_today(ZONE)
    assert any(hazards.is_overdue(h, today) for h in all_hazards)
    # No finding reads as a statement of compliance (issue 14): those without one say "未满足".
    prompts = set(session.exec(select(TemplateItem.prompt_zh)).all())
    assert not any(h.description in prompts for h in all_hazards)
    assert any(h.description.startswith("未满足：") for h in all_hazards)
    # Every hazard's history starts with its creation and ends in its current status.
    for h in all_hazards[:40]:
        events = hazards.hazard_events(session, h.id)
        assert events[0].action == "created" and events[-1].to_status == h.status
    photos = session.exec(select(Photo)).all()
    assert photos and all(p.width > 0 for p in photos)
    assert any(settings.upload_dir.rglob("*.jpg"))
    # Inspections spread over the weeks, some sites behind their cadence.
    submitted = session.exec(select(Inspection.submitted_at)).all()
    assert (max(submitted) - min(submitted)).days >= 35

    # Routine: sites due for inspection, one running plan with progress, a hazard on its own.
    due, _total = sites_domain.due_sites(
        session,
        session.exec(select(User).where(User.role == Role.office)).first(),
        now=clock.now(),
        soon_days=7,
        zone=settings.zone,
        due="overdue",
    )
    never, _total = sites_domain.due_sites(
        session,
        session.exec(select(User).where(User.role == Role.office)).first(),
        now=clock.now(),
        soon_days=7,
        zone=settings.zone,
        due="never",
    )
    assert due or never
    (plan,) = session.exec(select(InspectionPlan)).all()
    (row,) = plans.progress(session, [plan])
    assert row.state(today) == "running" and row.sites_total >= 5
    own = session.exec(select(Hazard).where(Hazard.client_uuid.is_not(None))).all()
    assert len(own) == 1 and own[0].inspection_id is None
    assert hazards.hazard_photos(session, own[0].id)
    officers = session.exec(select(User).where(User.role == Role.officer)).all()
    assert all(u.email for u in officers)

    before = counts(session)
    demo.load(session, settings, progress=lines.append)
    assert counts(session) == before
    assert len(session.exec(select(InspectionPlan)).all()) == 1
    assert "nothing added" in " ".join(lines[-3:]) or "already" in " ".join(lines)
