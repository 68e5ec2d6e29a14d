"""The demo's routine part: one running inspection plan, one hazard reported on its own (随手拍)
and e-mail addresses for notices. Idempotent like the rest of the demo: the plan is found by
name, the hazard by its client_uuid, an address is only set where none is.

Sites due for inspection need nothing here: the demo's history leaves some sites behind and
some never inspected.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

from sqlmodel import Session, select

from inspect_app.config import Settings
from inspect_app.domain import hazard_reports, photos, plans
from inspect_app.domain.clock import local_today
from inspect_app.domain.demo_history import make_photo
from inspect_app.models import Hazard, InspectionPlan, Role, Site, User, utcnow

PLAN_NAME = "冬季消防安全专项检查"
OWN_HAZARD_UUID = "demo-own-hazard-1"
MAIL_DOMAIN = "inspect.example"  # reserved for examples: nothing is ever delivered there


def ensure_routine(
    session: Session,
    settings: Settings,
    rng: random.Random,
    template_id: int,
    sites: list[Site],
    users: list[User],
    progress: Callable[[str], None],
) -> None:
    office = next(u for u in users if u.role == Role.office)
    plan = session.exec(select(InspectionPlan).where(InspectionPlan.name == PLAN_NAME)).first()
    if plan is None:
        today = local_today(settings.zone)
        plan = plans.create_plan(  # the city's high-risk sites, started a week ago
            session,
            office,
            name=PLAN_NAME,
            template_id=template_id,
            starts=today - timedelta(days=7),
            ends=today + timedelta(days=21),
            site_ids=[s.id for s in sites if s.risk_class == "A" and s.is_active],
            zone=settings.zone,
        )
        (row,) = plans.progress(session, [plan])
        progress(f"      plan {PLAN_NAME}: {row.sites_done}/{row.sites_total} sites done")
    else:
        progress(f"      plan {PLAN_NAME}: already there")
    if session.exec(select(Hazard).where(Hazard.client_uuid == OWN_HAZARD_UUID)).first() is None:
        inspector = next(u for u in users if u.role == Role.inspector)
        site = next(s for s in sites if s.district_id == inspector.district_id and s.is_active)
        photo = photos.ingest_bytes(
            session, settings, inspector, make_photo(rng, f"{site.name} 随手拍"), "own.jpg"
        )
        hazard, _created = hazard_reports.report_hazard(
            session,
            inspector,
            hazard_reports.HazardReport(
                client_uuid=OWN_HAZARD_UUID,
                site_id=site.id,
                grade="general",
                category="消防安全",
                description="路过发现：仓库后门安全出口被货物堵塞",
                photo_ids=[photo.id],
            ),
            now=utcnow() - timedelta(hours=3),
        )
        progress(f"      hazard reported on its own: #{hazard.id} at {site.name}")
    for user in users:
        if user.role in (Role.officer, Role.office) and not user.email:
            user.email = f"{user.username}@{MAIL_DOMAIN}"
            session.add(user)
    session.commit()
