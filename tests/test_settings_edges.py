"""Settings enter at the edges: an app built with another time zone and risk rule uses them
everywhere (deadlines, overdue, ISO weeks, the dashboard, the stats API, the weekly PDF),
not the defaults read from the environment.

Two zones: Europe/Berlin, and whichever far zone has another calendar day than the default
(Asia/Shanghai) at the moment the test runs, so that every check depending on "today" bites
at any hour. The data sits next to local midnight, where the zones disagree on the day.
"""

from __future__ import annotations

import html
import io
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from inspect_app.config import DEFAULT_RISK_RULE, DEFAULT_TIMEZONE
from inspect_app.domain.clock import local_today
from inspect_app.domain.reports import week_of
from inspect_app.main import create_app
from inspect_app.models import Hazard

# One open hazard is "blue" here; the default rule makes an open major hazard red.
RULE = "red: open >= 100; orange: open >= 50; yellow: open >= 20; blue: otherwise"
DEFAULT = ZoneInfo(DEFAULT_TIMEZONE)


def _far_zone() -> str:
    """A zone whose calendar day differs from the default zone's right now."""
    for name in ("Etc/GMT+12", "Etc/GMT-14"):
        if local_today(ZoneInfo(name)) != local_today(DEFAULT):
            return name
    raise AssertionError("one of UTC-12 and UTC+14 always has another day than UTC+8")


@pytest.fixture(params=["Europe/Berlin", "far"])
def zone(request) -> ZoneInfo:
    return ZoneInfo(_far_zone() if request.param == "far" else request.param)


@pytest.fixture
def app(settings, zone):
    """Overrides conftest's app: the same database, another time zone and risk rule."""
    assert settings.risk_rule == DEFAULT_RISK_RULE
    return create_app(settings.model_copy(update={"timezone": zone.key, "risk_rule": RULE}))


def in_local_week(monday: date, zone: ZoneInfo) -> datetime:
    """An instant inside the local week of `monday` that Asia/Shanghai counts in another week:
    Sunday 23:30 for a zone west of it (Monday in Shanghai), Monday 00:30 for one east of it."""
    west = (
        datetime(2026, 1, 1, tzinfo=zone).utcoffset()
        < datetime(2026, 1, 1, tzinfo=DEFAULT).utcoffset()
    )
    day, at = (monday + timedelta(days=6), time(23, 30)) if west else (monday, time(0, 30))
    instant = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
    assert week_of(instant.astimezone(DEFAULT).date()) != week_of(monday)
    return instant


def add_hazard(session, site, reporter, created: datetime, **values) -> Hazard:
    h = Hazard(
        site_id=site.id,
        district_id=site.district_id,
        reporter_id=reporter.id,
        grade=values.pop("grade", "major"),
        category="消防安全",
        description=values.pop("description", "test"),
        status=values.pop("status", "reported"),
        created_at=created,
        updated_at=created,
        **values,
    )
    session.add(h)
    session.commit()
    return h


def test_the_period_filters_and_stats_use_the_local_days_of_the_zone(session, region, api_as, zone):
    office, user = api_as("office")
    site = region["sites"][0]
    monday = week_of(local_today(zone) - timedelta(days=14)).start
    sunday = monday + timedelta(days=6)
    add_hazard(session, site, user, in_local_week(monday, zone), description="late-sunday")

    week = {"since": monday.isoformat(), "until": sunday.isoformat()}
    listed = office.get("/api/v1/hazards", params=week).json()
    assert [h["description"] for h in listed["items"]] == ["late-sunday"]
    figures = office.get("/api/v1/stats/districts", params=week).json()
    assert figures["totals"]["new"] == 1
    assert figures["risk_rule"] == RULE
    district = next(r for r in figures["items"] if r["district"]["id"] == site.district_id)
    assert (district["open"], district["major"], district["risk_level"]) == (1, 1, "blue")

    layer = office.get("/api/v1/map/districts.geojson", params=week).json()
    levels = {f["id"]: f["properties"]["risk_level"] for f in layer["features"]}
    assert levels[site.district_id] == "blue"


def test_deadlines_and_overdue_follow_the_zones_today(session, region, api_as, zone):
    office, user = api_as("office")
    site = region["sites"][0]
    today = local_today(zone)
    assert today != local_today(DEFAULT) or zone.key == "Europe/Berlin"
    due_today = add_hazard(
        session,
        site,
        user,
        datetime.now(UTC) - timedelta(days=3),
        status="rectifying",
        deadline=today,
        description="due-today",
    )
    add_hazard(
        session,
        site,
        user,
        datetime.now(UTC) - timedelta(days=3),
        status="rectifying",
        deadline=today - timedelta(days=1),
        description="due-yesterday",
    )
    listed = office.get("/api/v1/hazards").json()["items"]
    assert {h["description"]: h["overdue"] for h in listed} == {
        "due-today": False,
        "due-yesterday": True,
    }
    overdue = office.get("/api/v1/hazards", params={"overdue": "true"}).json()["items"]
    assert [h["description"] for h in overdue] == ["due-yesterday"]

    fresh = add_hazard(session, site, user, datetime.now(UTC), description="to-plan")
    plan = {
        "responsible_person": "张经理",
        "measures": "清理",
        "rectifier": "李师傅",
        "acceptor": "王科长",
        "funds": "100元",
        "interim_measures": "警示",
        "stop_production": False,
        "version": fresh.version,
    }
    late = {**plan, "deadline": (today - timedelta(days=1)).isoformat()}
    refused = office.post(f"/api/v1/hazards/{fresh.id}/plan", json=late)
    assert refused.status_code == 422, refused.text
    accepted = office.post(
        f"/api/v1/hazards/{fresh.id}/plan", json={**plan, "deadline": today.isoformat()}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["overdue"] is False
    assert due_today.id != fresh.id


def test_pages_and_the_weekly_pdf_use_the_zone_and_the_rule(session, region, login_as, zone):
    client, user = login_as("office")
    site = region["sites"][0]
    monday = week_of(local_today(zone) - timedelta(days=14)).start
    sunday = monday + timedelta(days=6)
    created = in_local_week(monday, zone)
    hazard = add_hazard(session, site, user, created, description="late-sunday")

    detail = client.get(f"/hazards/{hazard.id}")
    local, elsewhere = (created.astimezone(z).date().isoformat() for z in (zone, DEFAULT))
    assert local in detail.text and elsewhere not in detail.text

    week = {"since": monday.isoformat(), "until": sunday.isoformat()}
    page = client.get("/dashboard", params=week)
    assert page.status_code == 200
    assert html.escape(RULE) in page.text
    assert "risk-blue" in page.text and "risk-red" not in page.text
    listed = client.get("/hazards", params=week)
    assert "late-sunday" in listed.text

    label = week_of(monday).label
    before = datetime.now(zone)
    pdf = client.get(f"/reports/weekly/{label}.pdf")
    assert pdf.status_code == 200, pdf.text
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "late-sunday" in text  # open at the end of the local week: in the major list
    assert "open >= 100" in text.replace("\n", " ")
    stamps = {(before + timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M") for m in (0, 1)}
    assert any(s in text for s in stamps), text[:400]
