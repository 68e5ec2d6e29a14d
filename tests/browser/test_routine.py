"""The routine pages as people click through them: the office plans a campaign and the officer
follows their district's plans, the due list (overdue first), and an inspector reporting a
hazard outside a checklist with a photo on a phone, with and without JavaScript.

Screenshots at 360 and 1280 px go to /tmp/shots/routine/ (outside the repository) for a look.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import expect
from sqlmodel import select

from inspect_app.models import AnswerPhoto, Hazard, HazardPhoto, InspectionPlan, Photo, Site
from tests.clients import PHONE, sign_in
from tests.factories import jpeg

SHOTS = Path("/tmp/shots/routine")


def shoot(page, name: str) -> None:
    """The page at a small phone's width and a desktop's; neither scrolls sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 844})
        page.evaluate("window.scrollTo(0, 0)")
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (
            f"{name} scrolls sideways at {width}"
        )
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size(size)


def test_office_plans_a_campaign_and_the_officer_follows_their_districts_plans(
    live_server, browser, phone, make_user, region, session
):
    office = make_user("office")
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = desk.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, live_server, office.username)
        page.goto(f"{live_server}/plans")
        expect(page.locator("main")).to_contain_text("还没有检查计划")
        page.click("text=新建计划")
        page.wait_for_url("**/plans/new")
        shoot(page, "plan-new")

        # Ends before it starts: refused in words, the typing kept, nothing stored.
        page.fill("#name", "节前消防专项检查")
        page.select_option("select[name=district]", label="蒸湘区")
        page.check("input[name=risk_classes][value=A]")
        page.fill("input[name=starts]", "2026-12-20")
        page.fill("input[name=ends]", "2026-12-10")
        page.click("form[action='/plans/new'] button[type=submit]")
        # (It said the hazard's rectification plan was wrong: one English text, two meanings.)
        expect(page.locator("div.alert[role=alert]")).to_have_text("检查计划不完整或有误。")
        expect(page.locator(".field-error")).to_contain_text("结束日期早于开始日期")
        expect(page.locator("#name")).to_have_value("节前消防专项检查")
        expect(page.locator("input[name=risk_classes][value=A]")).to_be_checked()
        assert session.exec(select(InspectionPlan)).all() == []
        shoot(page, "plan-new-refused")

        page.fill("input[name=ends]", "2027-01-20")
        page.click("form[action='/plans/new'] button[type=submit]")
        page.wait_for_url(re.compile(r"/plans/\d+$"))
        expect(page.locator("h1")).to_contain_text("节前消防专项检查")
        expect(page.locator("main")).to_contain_text("蒸湘化工仓库")  # risk class A in 蒸湘区
        expect(page.locator("main")).not_to_contain_text("蒸湘超市")  # risk class C
        shoot(page, "plan-show")
    finally:
        desk.close()
    plan = session.exec(select(InspectionPlan)).one()
    assert plan.name == "节前消防专项检查" and plan.district_id == region["districts"]["蒸湘区"].id

    # The district's officer sees it on their phone; another district's officer does not.
    officer = make_user("officer")
    sign_in(phone, live_server, officer.username)
    phone.goto(f"{live_server}/plans")
    phone.locator("a", has_text="节前消防专项检查").tap()
    phone.wait_for_url(f"**/plans/{plan.id}")
    expect(phone.locator("main")).to_contain_text("蒸湘化工仓库")
    phone.goto(f"{live_server}/plans")
    shoot(phone, "plan-list")

    elsewhere = make_user("officer", district="珠晖区")
    other = browser.new_context(**PHONE)
    page = other.new_page()
    try:
        sign_in(page, live_server, elsewhere.username)
        page.goto(f"{live_server}/plans")
        expect(page.locator("main")).not_to_contain_text("节前消防专项检查")
        response = page.goto(f"{live_server}/plans/{plan.id}")
        assert response.status == 404
    finally:
        other.close()


def test_due_list_puts_overdue_sites_first_and_filters_by_due_status(
    live_server, phone, make_user, region, session
):
    warehouse, supermarket, _factory = region["sites"]
    now = datetime.now(UTC)
    warehouse.last_inspected_at = now - timedelta(days=45)  # every 30 days: overdue
    supermarket.last_inspected_at = now - timedelta(days=86)  # every 90 days: due within 7
    for site in (warehouse, supermarket):
        session.add(site)
    session.commit()

    officer = make_user("officer")
    sign_in(phone, live_server, officer.username)
    phone.goto(f"{live_server}/sites")
    rows = phone.locator("tbody tr")
    expect(rows).to_have_count(2)  # 珠晖机械厂 is another district's
    expect(rows.nth(0)).to_contain_text("蒸湘化工仓库")
    expect(rows.nth(0).locator(".badge.due-overdue")).to_be_visible()
    expect(rows.nth(1)).to_contain_text("蒸湘超市")
    expect(rows.nth(1).locator(".badge.due-soon")).to_be_visible()
    shoot(phone, "sites")
    # On a 360 px phone the due date and its badge show without scrolling sideways.
    phone.set_viewport_size({"width": 360, "height": 800})
    badge = rows.nth(0).locator(".badge.due-overdue").bounding_box()
    assert badge["x"] + badge["width"] <= 360, badge
    phone.set_viewport_size(PHONE["viewport"])

    phone.locator("nav.filters a", has_text="已逾期").tap()
    phone.wait_for_url(re.compile(r"due=overdue"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("蒸湘化工仓库")
    phone.locator("nav.filters a", has_text="从未检查").tap()
    expect(phone.locator("main")).to_contain_text("没有匹配的单位")
    # An inspector has no due list.
    inspector = make_user("inspector")
    phone.locator("form[action='/logout'] button").click()
    sign_in(phone, live_server, inspector.username)
    assert phone.goto(f"{live_server}/sites").status == 403


def report(page, base: str, photo: Path) -> None:
    """Fills the report form as a thumb would and sends it."""
    page.goto(f"{base}/inspections")
    page.locator("a", has_text="上报隐患").tap()
    page.wait_for_url("**/hazards/new")
    page.select_option("#site_id", label="蒸湘超市")
    page.locator("label.choice", has_text="重大").tap()
    page.fill("#category", "消防通道")
    page.fill("#description", "后门消防通道堆放纸箱")
    page.set_input_files("#files", str(photo))
    page.locator("button[type=submit]", has_text="上报隐患").tap()


def test_inspector_reports_a_hazard_with_a_photo_on_a_phone(
    live_server, phone, make_user, region, session, tmp_path
):
    inspector = make_user("inspector")
    sign_in(phone, live_server, inspector.username)
    phone.goto(f"{live_server}/hazards/new")
    shoot(phone, "hazard-new")

    # Not a photo: refused in words, what was typed stays, nothing stored.
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    report(phone, live_server, text)
    expect(phone.locator("figure.photo-item .field-error")).to_be_visible()
    expect(phone.locator("#description")).to_have_value("后门消防通道堆放纸箱")
    assert session.exec(select(Hazard)).all() == []
    shoot(phone, "hazard-new-refused")

    # The refused file goes (its 44 px ×), a real photo comes, and the same report goes.
    phone.locator("figure.photo-item[data-state=refused] button.remove").tap()
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(jpeg("red", size=(1200, 900)))
    phone.set_input_files("#files", str(photo))
    phone.locator("button[type=submit]", has_text="上报隐患").tap()
    phone.wait_for_url(re.compile(r"/hazards/\d+$"), timeout=30_000)  # once the server has it
    expect(phone.locator("main")).to_contain_text("后门消防通道堆放纸箱")
    expect(phone.locator("main img[src*='/photos/']").first).to_be_visible()
    # An inspector has no hazard list: the way back leads home.
    expect(phone.locator("main p.no-print a")).to_have_attribute("href", "/inspections")
    shoot(phone, "hazard-reported")
    hazard = session.exec(select(Hazard)).one()
    assert hazard.site_id == region["sites"][1].id and hazard.grade == "major"
    assert hazard.reporter_id == inspector.id
    assert len(session.exec(select(HazardPhoto)).all()) == 1
    assert session.exec(select(AnswerPhoto)).all() == []


def test_the_hazard_report_form_works_without_javascript(
    live_server, browser, make_user, region, session, tmp_path
):
    inspector = make_user("inspector")
    context = browser.new_context(**PHONE, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, live_server, inspector.username)
        photo = tmp_path / "IMG_0002.jpg"
        photo.write_bytes(jpeg("blue", size=(800, 600)))
        report(page, live_server, photo)
        page.wait_for_url(re.compile(r"/hazards/\d+$"))
        expect(page.locator("main")).to_contain_text("后门消防通道堆放纸箱")
    finally:
        context.close()
    hazard = session.exec(select(Hazard)).one()
    assert hazard.description == "后门消防通道堆放纸箱"
    photo_row = session.exec(select(Photo)).one()
    assert session.exec(select(HazardPhoto)).one().photo_id == photo_row.id
    assert session.exec(select(Site).where(Site.id == hazard.site_id)).one().name == "蒸湘超市"
