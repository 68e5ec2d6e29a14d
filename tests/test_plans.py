"""Inspection plans: who may plan what, bad input, progress (a site is done by an inspection
with the plan's checklist submitted inside the window), inspectors see their plan's sites first,
the pages."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlmodel import func, select

from inspect_app.domain import inspections
from inspect_app.models import (
    ChecklistTemplate,
    InspectionPlan,
    PlanSite,
    TemplateVersion,
)
from tests.clients import form_token
from tests.factories import complete_answers

TODAY = date.today()


def plan_body(region, **extra) -> dict:
    return {
        "name": "节前消防专项检查",
        "template_id": region["template_id"],
        "site_ids": [s.id for s in region["sites"][:2]],
        "starts": (TODAY - timedelta(days=3)).isoformat(),
        "ends": (TODAY + timedelta(days=10)).isoformat(),
        **extra,
    }


def submit(session, user, region, site, at: datetime):
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


def plan_count(session) -> tuple[int, int]:
    session.expire_all()
    return (
        session.exec(select(func.count()).select_from(InspectionPlan)).one(),
        session.exec(select(func.count()).select_from(PlanSite)).one(),
    )


def test_office_plans_and_follows_progress(api_as, make_user, session, region):
    office, _ = api_as("office")
    inspector = make_user("inspector", "蒸湘区")
    r = office.post("/api/v1/plans", json=plan_body(region, inspector_ids=[inspector.id]))
    assert r.status_code == 201, r.text
    plan_id = r.json()["id"]
    listed = office.get("/api/v1/plans").json()
    assert listed["total"] == 1
    row = listed["items"][0]
    assert (row["sites_total"], row["sites_done"], row["state"]) == (2, 0, "running")
    assert row["inspector_ids"] == [inspector.id] and row["district"] == "蒸湘区"

    chem, market, _machine = region["sites"]
    before = datetime.combine(TODAY - timedelta(days=5), datetime.min.time(), tzinfo=UTC)
    submit(session, inspector, region, chem, before)  # before the window: does not count
    assert office.get(f"/api/v1/plans/{plan_id}").json()["sites_done"] == 0
    inside = datetime.now(UTC) - timedelta(hours=1)
    submit(session, inspector, region, chem, inside)
    detail = office.get(f"/api/v1/plans/{plan_id}").json()
    assert (detail["sites_total"], detail["sites_done"]) == (2, 1)
    by_name = {s["site"]["name"]: s for s in detail["sites"]}
    assert by_name["蒸湘化工仓库"]["done_at"] is not None
    assert by_name["蒸湘化工仓库"]["inspection_id"] is not None
    assert by_name["蒸湘超市"] == {
        "site": {"id": market.id, "name": "蒸湘超市"},
        "district": "蒸湘区",
        "done_at": None,
        "inspection_id": None,
    }
    assert detail["sites"][0]["site"]["name"] == "蒸湘超市"  # pending first


def test_sites_by_district_and_risk_class(api_as, region):
    office, _ = api_as("office")
    r = office.post(
        "/api/v1/plans", json=plan_body(region, site_ids=[], district="蒸湘区", risk_classes=["A"])
    )
    assert r.status_code == 201, r.text
    detail = office.get(f"/api/v1/plans/{r.json()['id']}").json()
    assert [s["site"]["name"] for s in detail["sites"]] == ["蒸湘化工仓库"]


def test_officer_plans_own_district_only(api_as, session, region):
    officer, _ = api_as("officer", "蒸湘区")
    assert officer.post("/api/v1/plans", json=plan_body(region)).status_code == 201
    assert plan_count(session) == (1, 2)
    machine = region["sites"][2]  # 珠晖区
    for body in (
        plan_body(region, site_ids=[machine.id]),
        plan_body(region, site_ids=[region["sites"][0].id, machine.id]),
        plan_body(region, site_ids=[], district="珠晖区"),
    ):
        r = officer.post("/api/v1/plans", json=body)
        assert r.status_code == 403, r.text
        assert "detail" in r.json()
    # Without sites or district: every active site of the officer's own district.
    r = officer.post("/api/v1/plans", json=plan_body(region, site_ids=[]))
    assert r.status_code == 201
    assert officer.get(f"/api/v1/plans/{r.json()['id']}").json()["sites_total"] == 2
    assert plan_count(session) == (2, 4)
    # The other district's officer does not see these plans.
    other, _ = api_as("officer", "珠晖区")
    assert other.get("/api/v1/plans").json()["total"] == 0
    assert other.get(f"/api/v1/plans/{r.json()['id']}").status_code == 404


def test_bad_plans_are_422_and_change_nothing(api_as, session, region):
    office, user = api_as("office")
    draft_only = ChecklistTemplate(key="draft-only", name_zh="草稿检查表")
    session.add(draft_only)
    session.commit()
    session.add(TemplateVersion(template_id=draft_only.id, version=1, status="draft"))
    session.commit()
    for body in (
        plan_body(region, ends=(TODAY - timedelta(days=4)).isoformat()),  # ends before start
        plan_body(region, template_id=draft_only.id),  # unpublished
        plan_body(region, template_id=999999),
        plan_body(region, site_ids=[999999]),
        plan_body(region, site_ids=[2**70]),
        plan_body(region, name=""),
        plan_body(region, inspector_ids=[user.id]),  # not an inspector
        plan_body(region, starts="2026-13-01"),
        plan_body(region, district="火星区"),
    ):
        r = office.post("/api/v1/plans", json=body)
        assert r.status_code == 422, (body, r.text)
        assert "detail" in r.json()
    assert plan_count(session) == (0, 0)
    assert office.get(f"/api/v1/plans/{2**70}").status_code in (404, 422)


def test_inspectors_see_their_plans_and_its_sites_first(
    api_as, login_as, make_user, session, region
):
    c, inspector = login_as("inspector", "蒸湘区")
    others = make_user("inspector", "蒸湘区")
    office, _ = api_as("office")
    market = region["sites"][1]
    mine = office.post(
        "/api/v1/plans", json=plan_body(region, site_ids=[market.id], inspector_ids=[inspector.id])
    ).json()["id"]
    theirs = office.post(
        "/api/v1/plans", json=plan_body(region, name="别人的计划", inspector_ids=[others.id])
    ).json()["id"]
    assert c.get(f"/api/v1/plans/{mine}").status_code == 200
    assert c.get(f"/api/v1/plans/{theirs}").status_code == 404
    assert [p["id"] for p in c.get("/api/v1/plans").json()["items"]] == [mine]
    # The start page lists the plan's site first (the others are never inspected, also due).
    page = c.get("/inspections/new").text
    assert page.index("蒸湘超市") < page.index("蒸湘化工仓库")
    assert "plan-running" in page
    # Once done inside the window, it is no longer put first.
    submit(session, inspector, region, market, datetime.now(UTC) - timedelta(minutes=5))
    page = c.get("/inspections/new").text
    assert page.index("蒸湘化工仓库") < page.index("蒸湘超市")


def test_plan_pages(login_as, session, region):
    c, _ = login_as("office")
    page = c.get("/plans/new")
    assert page.status_code == 200
    data = {
        "csrftoken": form_token(page.text),
        "name": "危化品专项检查",
        "template_id": str(region["template_id"]),
        "district": str(region["districts"]["蒸湘区"].id),
        "risk_classes": ["A", "C"],
        "starts": TODAY.isoformat(),
        "ends": (TODAY + timedelta(days=7)).isoformat(),
    }
    r = c.post("/plans/new", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    show = c.get(r.headers["location"])
    assert show.status_code == 200 and "危化品专项检查" in show.text
    assert "蒸湘化工仓库" in show.text and "蒸湘超市" in show.text
    listing = c.get("/plans").text
    assert "危化品专项检查" in listing and "plan-bar" in listing
    bad = c.post("/plans/new", data={**data, "ends": (TODAY - timedelta(days=1)).isoformat()})
    assert bad.status_code == 422 and "field-error" in bad.text and "危化品专项检查" in bad.text
    # Odd numerals and dates (the class of #12): a clear 422 on the form, never a 500.
    for odd in (
        {"template_id": "²"},
        {"site_ids": ["¹"]},
        {"inspector_ids": ["99999999999999999999"]},
        {"starts": "0001-01-01"},
        {"ends": "20261231"},
        {"ends": "2026-W53-1"},
    ):
        bad = c.post("/plans/new", data={**data, **odd})
        assert bad.status_code == 422 and 'role="alert"' in bad.text, (odd, bad.text[:300])
    assert plan_count(session)[0] == 1
