"""An admin builds a small checklist in the editor (laptop) and publishes it; an inspector then
fills it on a phone. Screenshots go to /tmp/shots/admin/."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import expect
from sqlmodel import select

from inspect_app.domain import checklists
from inspect_app.models import Answer, AuditLog, Hazard, Inspection, TemplateVersion
from tests.browser.conftest import sign_in

SHOTS = Path(os.environ.get("INSPECT_SHOTS", "/tmp/shots/admin"))


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"browser-{name}.png"), full_page=True)


def add_item(page, **fields) -> None:
    page.locator("section.section").last.locator("a", has_text="添加检查项").click()
    page.wait_for_url(re.compile(r"/items/new$"))
    page.fill("textarea[name=prompt_zh]", fields["prompt_zh"])
    page.select_option("select[name=response_type]", fields.get("response_type", "pass_fail"))
    page.select_option("select[name=default_grade]", fields.get("grade", "general"))
    for name in ("min_value", "max_value", "unit", "basis"):
        if name in fields:
            page.fill(f"input[name={name}]", fields[name])
    page.click("button:has-text('保存检查项')")
    page.wait_for_url(re.compile(r"/admin/templates/\d+(#item-\d+)?$"))


def test_admin_builds_and_publishes_a_checklist_that_an_inspector_fills(
    live_server, browser, phone, make_user, region, session
):
    admin = make_user("admin")
    inspector = make_user("inspector")
    laptop = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    laptop.set_default_timeout(10_000)
    laptop.on("dialog", lambda dialog: dialog.accept())  # hx-confirm before publishing
    sign_in(laptop, live_server, admin.username)

    laptop.goto(f"{live_server}/admin/templates")
    laptop.fill("input[name=name_zh]", "消防专项检查")
    laptop.fill("input[name=name_en]", "Fire check")
    laptop.click("button:has-text('创建并编辑')")
    laptop.wait_for_url(re.compile(r"/admin/templates/\d+$"))
    template_id = int(laptop.url.rsplit("/", 1)[1])

    # A section, added through htmx: the editor is swapped in place.
    laptop.fill("input[name=title_zh]", "疏散与器材")
    laptop.click("button:has-text('添加分组')")
    expect(laptop.locator("section.section h2")).to_contain_text("疏散与器材")

    add_item(laptop, prompt_zh="安全出口畅通无堵塞", grade="major", basis="消防法 第二十八条")
    add_item(
        laptop,
        prompt_zh="灭火器压力",
        response_type="number",
        min_value="0.8",
        max_value="1.2",
        unit="MPa",
    )
    # The number item moves up, with the up button (htmx).
    items = laptop.locator("ol.items > li")
    expect(items).to_have_count(2)
    items.nth(1).locator("button", has_text="↑").click()
    expect(laptop.locator("ol.items > li").first).to_contain_text("灭火器压力")
    expect(laptop.locator(".phone .preview-item").first).to_contain_text("灭火器压力")
    expect(laptop.locator(".phone .segmented")).to_have_count(1)
    shot(laptop, "editor-draft")

    laptop.click("button:has-text('发布 v1')")
    expect(laptop.locator(".versions")).to_contain_text("已发布")
    shot(laptop, "editor-published")

    version = checklists.latest_published(session, template_id)
    assert version is not None and version.version == 1 and version.published_by == admin.id
    api = laptop.request.get(f"{live_server}/api/v1/templates/{template_id}").json()
    assert [i["prompt_zh"] for i in api["sections"][0]["items"]] == [
        "灭火器压力",
        "安全出口畅通无堵塞",
    ]
    assert (
        session.exec(select(AuditLog).where(AuditLog.action == "template.publish")).first().actor_id
        == admin.id
    )
    laptop.context.close()

    # The inspector fills the new checklist on a phone.
    sign_in(phone, live_server, inspector.username)
    phone.goto(f"{live_server}/inspections/new")
    phone.locator("label.choice", has_text="消防专项检查").tap()
    phone.locator("#sites .site", has_text="蒸湘化工仓库").tap()
    phone.tap("text=开始本次检查")
    # Started by the phone's client_uuid (the outbox sends the start; it also works offline).
    phone.wait_for_url(re.compile(r"/inspections/c/[0-9a-f-]+\?v=\d+&site=\d+$"))
    groups = phone.locator("fieldset.item")
    expect(groups).to_have_count(2)
    pressure = groups.nth(0).locator("input[type=number]")
    pressure.fill("1.0")
    pressure.blur()
    groups.nth(0).locator(".item-status .saved").wait_for()
    groups.nth(1).locator("label:has(input[value=fail])").tap()
    groups.nth(1).locator(".item-status .saved").wait_for()
    groups.nth(1).locator("textarea[name^=description]").fill("安全出口堆放杂物")
    groups.nth(1).locator("textarea[name^=description]").blur()
    expect(phone.locator(".htmx-request")).to_have_count(0)
    phone.tap("button[data-submit]")
    phone.wait_for_url("**/done")
    shot(phone, "inspector-done")

    inspection = session.exec(select(Inspection)).one()
    assert inspection.template_version_id == version.id and inspection.status == "submitted"
    assert len(session.exec(select(Answer).where(Answer.inspection_id == inspection.id)).all()) == 2
    hazard = session.exec(select(Hazard)).one()
    assert (hazard.grade, hazard.category) == ("major", "疏散与器材")
    assert session.get(TemplateVersion, version.id).status == "published"


def test_admin_taps_a_site_location_and_uploads_a_spreadsheet(
    live_server, browser, make_user, region, session, tmp_path
):
    """The map sets lat/lon; an upload form posts the spreadsheet and shows every problem."""
    from inspect_app.models import Site
    from tests.test_admin_templates import GOOD_ROW, workbook_bytes

    admin = make_user("admin")
    page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_server, admin.username)
    page.goto(f"{live_server}/admin/sites/new")
    page.locator("#site-map path.leaflet-interactive").first.wait_for()
    page.fill("input[name=name]", "地图选点加油站")
    page.select_option("select[name=district]", label="蒸湘区")
    page.locator("#site-map").click(position={"x": 200, "y": 150})
    assert page.input_value("#lat") and page.input_value("#lon")
    page.click("button:has-text('保存')")
    page.wait_for_url(re.compile(r"/admin/sites/\d+$"))
    site = session.exec(select(Site).where(Site.name == "地图选点加油站")).one()
    assert site.lat is not None and abs(site.lat - 26.9) < 0.5 and abs(site.lon - 112.6) < 0.5
    shot(page, "site-tapped")

    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(workbook_bytes([GOOD_ROW, GOOD_ROW]))
    page.goto(f"{live_server}/admin/templates")
    page.set_input_files("input[type=file]", str(bad))
    page.locator("details summary").first.click()
    page.fill("form[enctype] input[name=name_zh]", "上传的检查表")
    page.click("form[enctype] button[type=submit]")
    expect(page.locator(".alert .problems")).to_contain_text("第 3 行")
    shot(page, "import-refused")
    good = tmp_path / "good.xlsx"
    good.write_bytes(workbook_bytes([GOOD_ROW]))
    page.set_input_files("input[type=file]", str(good))
    page.locator("details summary").first.click()
    page.fill("form[enctype] input[name=name_zh]", "上传的检查表")
    page.click("form[enctype] button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/templates/\d+$"))
    expect(page.locator(".phone")).to_contain_text("灭火器有效")
    page.context.close()
