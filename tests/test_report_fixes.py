"""Weekly-report fixes of issue 14: coverage figures when the site register is younger than
its inspections, a status that cannot contradict the overdue flag, and a finding that says what
is wrong when a failed item has no description."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from inspect_app.config import DEFAULT_RISK_RULE
from inspect_app.domain import hazards, inspections, report_pdf, reports, stats
from inspect_app.models import Hazard, HazardEvent, TemplateItem
from tests.reliability import complete_answers

ZONE = ZoneInfo("Asia/Shanghai")
WEEK_START = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)  # Monday 2026-W47, 10:00 local


def submit(session, user, region, site, at, fail_item=None):
    version = region["template_version"]
    answers = complete_answers(session, version.id, {fail_item.id: []} if fail_item else None)
    for a in answers:
        a.pop("hazard_description", None)
    inspection, created, _new = inspections.submit_payload(
        session,
        user,
        {
            "client_uuid": str(uuid.uuid4()),
            "template_id": version.template_id,
            "site_id": site.id,
            "location": None,
            "answers": answers,
        },
        now=at,
    )
    return created


def fail_item(session, region) -> TemplateItem:
    return session.exec(
        select(TemplateItem)
        .where(
            TemplateItem.version_id == region["template_version"].id,
            TemplateItem.photo_required_on_fail.is_(False),
            TemplateItem.response_type.in_(("pass_fail", "pass_fail_na")),
        )
        .order_by(TemplateItem.id)
    ).first()


def test_coverage_counts_sites_registered_after_their_inspections(session, region, make_user):
    """The demo (and any register imported late) registers sites today with inspections in past
    weeks: the weeks' coverage must count them instead of printing "—"."""
    inspector = make_user("inspector")
    chem, market, _machine = region["sites"]
    submit(session, inspector, region, chem, WEEK_START)
    submit(session, inspector, region, market, WEEK_START)
    for site in region["sites"]:  # registered long after the week
        site.created_at = datetime(2026, 12, 1, tzinfo=UTC)
        session.add(site)
    session.commit()
    rows = stats.district_stats(
        session,
        zone=ZONE,
        rule=stats.parse_risk_rule(DEFAULT_RISK_RULE),
        since=date(2026, 11, 16),
        until=date(2026, 11, 22),
        today=date(2026, 12, 1),
    )
    z = next(r for r in rows if r.name == "蒸湘区")
    assert (z.sites, z.covered_sites, z.coverage) == (2, 2, 1.0)
    h = next(r for r in rows if r.name == "珠晖区")
    assert h.sites == 0 and h.coverage is None  # never inspected, registered later: not yet


def test_failed_item_without_description_says_not_met(session, region, make_user):
    item = fail_item(session, region)
    created = submit(session, make_user("inspector"), region, region["sites"][0], WEEK_START, item)
    assert [h.description for h in created] == ["未满足：" + item.prompt_zh]


def test_overdue_list_shows_the_status_at_the_period_end(session, region, make_user, settings):
    """A hazard overdue at the week's end and accepted since is listed with its status then
    (rectifying), never as "accepted · overdue"."""
    item = fail_item(session, region)
    officer = make_user("officer")
    (hazard,) = submit(
        session, make_user("inspector"), region, region["sites"][0], WEEK_START, item
    )
    hazards.set_plan(
        session,
        officer,
        hazard.id,
        responsible_person="张三",
        measures="整改",
        rectifier="李四",
        acceptor="王五",
        deadline=date(2026, 11, 18),
        settings=settings,
        now=WEEK_START + timedelta(hours=1),
    )
    after = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # rectified and accepted the next week
    for at, action, source, to in (
        (after - timedelta(hours=1), "rectify", "rectifying", "rectified"),
        (after, "accept", "rectified", "accepted"),
    ):
        session.add(
            HazardEvent(
                hazard_id=hazard.id,
                actor_id=officer.id,
                at=at,
                action=action,
                from_status=source,
                to_status=to,
            )
        )
    h = session.get(Hazard, hazard.id)
    h.status, h.accepted_at = "accepted", after
    session.add(h)
    session.commit()
    target = reports.check_request(
        session, None, "2026-W47", None, today=date(2026, 12, 1), zone=ZONE
    )
    data = report_pdf.gather(session, settings, target)
    (listed,) = data["overdue"]["items"]
    assert listed["id"] == hazard.id
    assert listed["status"] == "rectifying" and listed["overdue"]
    pdf = report_pdf.render(settings, target, data, now=after)
    assert pdf.startswith(b"%PDF")


def test_plans_section_with_progress_at_the_period_end(session, region, make_user, settings):
    from io import BytesIO

    from pypdf import PdfReader

    from inspect_app.domain import plans

    office, inspector = make_user("office"), make_user("inspector")
    chem, market, _machine = region["sites"]
    plans.create_plan(
        session,
        office,
        name="冬季消防专项检查",
        template_id=region["template_id"],
        starts=date(2026, 11, 10),
        ends=date(2026, 11, 30),
        site_ids=[chem.id, market.id],
        zone=ZONE,
    )
    submit(session, inspector, region, chem, WEEK_START)  # in W47
    submit(session, inspector, region, market, WEEK_START + timedelta(days=8))  # in W48
    target = reports.check_request(
        session, None, "2026-W47", None, today=date(2026, 12, 1), zone=ZONE
    )
    data = report_pdf.gather(session, settings, target)
    (plan,) = data["plans"]
    assert (plan["name"], plan["done"], plan["total"]) == ("冬季消防专项检查", 1, 2)
    content = report_pdf.render(settings, target, data, now=WEEK_START + timedelta(days=9))
    text = "".join(page.extract_text() for page in PdfReader(BytesIO(content)).pages)
    assert "检查计划" in text and "冬季消防专项检查" in text and "1 / 2" in text
    later = reports.check_request(
        session, None, "2026-W48", None, today=date(2026, 12, 1), zone=ZONE
    )
    assert report_pdf.gather(session, settings, later)["plans"][0]["done"] == 2
