"""Due dates of sites: next_due and due_status on GET /api/v1/sites, the ?due= filter, the
inspector's start page ordered by urgency, and the clock moved through the clock module."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from inspect_app.domain import clock, inspections
from inspect_app.models import Site
from tests.reliability import complete_answers

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai


@pytest.fixture
def fixed_clock(monkeypatch):
    """The clock module's now(), moved by the test."""
    state = {"now": NOW}
    monkeypatch.setattr(clock, "now", lambda: state["now"])
    return state


def inspect_site(session, user, region, site: Site, at: datetime):
    """A real submitted inspection of the site at a past instant (through the domain)."""
    version = region["template_version"]
    inspections.submit_payload(
        session,
        user,
        {
            "client_uuid": str(uuid.uuid4()),
            "template_id": version.template_id,
            "site_id": site.id,
            "location": None,
            "answers": complete_answers(session, version.id),
        },
        now=at,
    )


def by_name(body) -> dict[str, dict]:
    return {s["name"]: s for s in body["items"]}


def test_status_next_due_and_filter(api_as, make_user, session, region, fixed_clock):
    chem, market, machine = region["sites"]  # cadences 30, 90, 60
    inspector = make_user("inspector", "蒸湘区")
    inspect_site(session, inspector, region, chem, NOW - timedelta(days=31))  # overdue
    inspect_site(session, inspector, region, market, NOW - timedelta(days=85))  # due in 5 days
    c, _office = api_as("office")

    sites = by_name(c.get("/api/v1/sites").json())
    assert sites["蒸湘化工仓库"]["due_status"] == "overdue"
    assert sites["蒸湘化工仓库"]["next_due"] == "2026-11-19"
    assert sites["蒸湘超市"]["due_status"] == "due_soon"
    assert sites["蒸湘超市"]["next_due"] == "2026-11-25"
    assert sites["珠晖机械厂"]["due_status"] == "never"
    assert sites["珠晖机械厂"]["next_due"] == "2026-11-20"  # never inspected: due now
    assert sites["珠晖机械厂"]["last_inspected_at"] is None

    for due, names in {
        "overdue": ["蒸湘化工仓库"],
        "due_soon": ["蒸湘超市"],
        "never": ["珠晖机械厂"],
        "ok": [],
    }.items():
        body = c.get("/api/v1/sites", params={"due": due}).json()
        assert [s["name"] for s in body["items"]] == names, due
        assert body["total"] == len(names)

    # Filters combine with the district and the page.
    body = c.get("/api/v1/sites", params={"due": "overdue", "district": "珠晖区"}).json()
    assert body == {"items": [], "total": 0}

    # A new inspection moves the site to ok; two weeks later the market is overdue.
    inspect_site(session, inspector, region, chem, NOW - timedelta(hours=1))
    assert by_name(c.get("/api/v1/sites").json())["蒸湘化工仓库"]["due_status"] == "ok"
    fixed_clock["now"] = NOW + timedelta(days=14)
    later = by_name(c.get("/api/v1/sites").json())
    assert later["蒸湘超市"]["due_status"] == "overdue"
    assert later["蒸湘化工仓库"]["due_status"] == "ok"  # due 30 days after, 16 days away


def test_due_soon_days_setting(api_as, make_user, session, region, fixed_clock, settings):
    chem = region["sites"][0]
    inspect_site(session, make_user("inspector"), region, chem, NOW - timedelta(days=20))
    c, _ = api_as("office")
    assert by_name(c.get("/api/v1/sites").json())["蒸湘化工仓库"]["due_status"] == "ok"
    c.app.state.settings = settings.model_copy(update={"due_soon_days": 14})
    try:
        assert by_name(c.get("/api/v1/sites").json())["蒸湘化工仓库"]["due_status"] == "due_soon"
    finally:
        c.app.state.settings = settings


def test_bad_due_value_is_422(api_as, region):
    c, _ = api_as("office")
    r = c.get("/api/v1/sites", params={"due": "late"})
    assert r.status_code == 422
    assert "detail" in r.json()


def test_officer_sees_own_district_only(api_as, region, fixed_clock):
    c, _ = api_as("officer", "珠晖区")
    body = c.get("/api/v1/sites", params={"due": "never"}).json()
    assert [s["name"] for s in body["items"]] == ["珠晖机械厂"]


def test_start_page_puts_due_sites_first(login_as, make_user, session, region, fixed_clock):
    chem, market, _machine = region["sites"]
    c, inspector = login_as("inspector", "蒸湘区")
    inspect_site(session, inspector, region, chem, NOW - timedelta(days=2))  # ok
    inspect_site(session, inspector, region, market, NOW - timedelta(days=100))  # overdue
    # Standing at the chemical store: it is nearest, but the overdue market comes first.
    page = c.get("/inspections/new", params={"lat": "26.8968", "lon": "112.5719"})
    assert page.status_code == 200
    text = page.text
    assert text.index("蒸湘超市") < text.index("蒸湘化工仓库")
    assert "due-overdue" in text
    assert " km" in text  # the distance is still shown


def test_due_list_page_and_coverage_link(login_as, make_user, session, region, fixed_clock):
    chem, market, _machine = region["sites"]
    inspector = make_user("inspector")
    inspect_site(session, inspector, region, chem, NOW - timedelta(days=40))
    inspect_site(session, inspector, region, market, NOW - timedelta(days=1))
    c, _ = login_as("office")
    zid = region["districts"]["蒸湘区"].id
    coverage = c.get("/coverage").text
    assert f"/sites?district={zid}&amp;due=overdue" in coverage
    page = c.get("/sites", params={"district": zid, "due": "overdue"})
    assert page.status_code == 200
    assert "蒸湘化工仓库" in page.text and "蒸湘超市" not in page.text
    assert "due-overdue" in page.text
    everything = c.get("/sites").text  # by urgency: never, overdue... before the ok market
    assert everything.index("蒸湘化工仓库") < everything.index("蒸湘超市")
    assert everything.index("珠晖机械厂") < everything.index("蒸湘超市")
    officer, _ = login_as("officer", "珠晖区")
    assert "蒸湘化工仓库" not in officer.get("/sites").text  # another district's sites
    assert c.get("/sites", params={"due": "late"}).status_code == 422
