"""An inspector on a phone: sign in, pick a site, answer, photograph a failure, reload and find
every answer kept, submit, see the hazards. Screenshots go to /tmp/shots/inspector/."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import expect
from sqlmodel import select

from inspect_app.models import Answer, Hazard, HazardPhoto, Inspection, Photo
from tests.clients import sign_in
from tests.factories import camera_jpeg

SHOTS = Path(os.environ.get("INSPECT_SHOTS", "/tmp/shots/inspector"))
GPS = (26.8968, 112.5719)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def no_horizontal_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"page is {width}px wide"


def idle(page) -> None:
    """Nothing waits in the phone's outbox and no htmx request is in flight (the page's CSP
    forbids evaluating strings, so no wait_for_function)."""
    expect(page.locator("#sync-status")).to_have_attribute("data-pending", "0")
    expect(page.locator(".htmx-request")).to_have_count(0)


def answer_section(page, result: str = "pass") -> None:
    """Tap the given result on every item of the current section that has the segmented control."""
    for group in page.locator("fieldset.item").all():
        radio = group.locator(f"input[type=radio][value={result}]")
        if radio.count():
            group.locator(f"label:has(input[value={result}])").tap()
            group.locator(".item-status .saved:not(.local)").wait_for()


def test_inspector_fills_a_checklist_with_a_photo_and_submits(
    live_server, phone, make_user, session, region, tmp_path
):
    user = make_user("inspector")
    phone.context.grant_permissions(["geolocation"], origin=live_server)
    phone.context.set_geolocation({"latitude": GPS[0], "longitude": GPS[1]})
    sign_in(phone, live_server, user.username)
    assert phone.url.endswith("/inspections")
    shot(phone, "01-home-empty")

    phone.tap("text=开始检查")
    phone.wait_for_url("**/inspections/new**")
    # Location is shared, so the sites come nearest first.
    phone.locator("#sites legend", has_text="由近到远").wait_for()
    no_horizontal_scroll(phone)
    shot(phone, "02-pick-site")
    phone.fill("#q", "化工")
    expect(phone.locator("#sites .site")).to_have_count(1)
    phone.locator("#sites .site", has_text="蒸湘化工仓库").tap()
    phone.tap("text=开始本次检查")
    phone.wait_for_url(re.compile(r"/inspections/c/[0-9a-f-]+\?v=\d+&site=\d+$"))
    idle(phone)  # the phone's outbox has sent the start
    inspection = session.exec(select(Inspection)).one()
    assert inspection.location_source == "device"
    no_horizontal_scroll(phone)
    shot(phone, "03-section-1")

    # Section 1: three pass, the ledger fails (no photo needed), with a note.
    items = phone.locator("fieldset.item")
    for i in range(3):
        items.nth(i).locator("label:has(input[value=pass])").tap()
        items.nth(i).locator(".item-status .saved:not(.local)").wait_for()
    ledger = items.nth(3)
    ledger.locator("label:has(input[value=fail])").tap()
    ledger.locator(".item-status .saved").wait_for()
    ledger.locator("textarea[name^=description]").fill("台账缺少十月记录")
    ledger.locator("input[name^=note]").fill("已告知负责人")
    ledger.locator("input[name^=note]").blur()
    idle(phone)
    phone.locator("#progress a.current small", has_text="4/4").wait_for()
    shot(phone, "04-section-1-answered")

    # Fire: the extinguishers fail, with a photo from the camera.
    phone.locator("#progress a", has_text="消防安全").tap()
    phone.wait_for_url("**section=fire")
    extinguisher = phone.locator("fieldset.item").first
    extinguisher.locator("label:has(input[value=fail])").tap()
    extinguisher.locator(".item-status .saved").wait_for()
    extinguisher.locator("input[type=file]").set_input_files(
        str(camera_jpeg(tmp_path / "IMG_0001.jpg"))
    )
    extinguisher.locator("figure[data-photo] img").wait_for()
    idle(phone)
    extinguisher.locator(".item-status .saved").wait_for()
    shot(phone, "05-photo-attached")
    for group in phone.locator("fieldset.item").all()[1:]:
        group.locator("label:has(input[value=pass])").tap()
        group.locator(".item-status .saved").wait_for()

    # Reload mid-way: every answer, the description and the photo are still there.
    phone.reload()
    assert phone.locator("fieldset.item").first.locator("input[value=fail]").is_checked()
    assert phone.locator("fieldset.item").first.locator("figure[data-photo] img").count() == 1
    assert all(
        g.locator("input[value=pass]").is_checked()
        for g in phone.locator("fieldset.item").all()[1:]
    )
    phone.goto(f"{live_server}/inspections/{inspection.id}")
    assert phone.locator("textarea[name^=description]").nth(3).input_value() == "台账缺少十月记录"
    assert phone.locator("input[name^=note]").nth(3).input_value() == "已告知负责人"
    photo = session.exec(select(Photo)).one()
    assert photo.height > photo.width  # turned upright once, in the browser, not twice
    assert max(photo.width, photo.height) <= 2048  # downscaled before upload
    assert abs(photo.gps_lat - GPS[0]) < 1e-3 and abs(photo.gps_lon - GPS[1]) < 1e-3  # GPS survived

    # Submitting now shows what is missing, in place.
    phone.tap("button[data-submit]")
    phone.locator("#problems").wait_for()
    no_horizontal_scroll(phone)
    shot(phone, "06-incomplete")

    # The remaining sections: all pass, the earth resistance within its limit, a text answer.
    for key in ("electrical", "chemicals", "equipment", "confined", "emergency"):
        phone.goto(f"{live_server}/inspections/{inspection.id}?section={key}")
        answer_section(phone)
        if key == "electrical":
            value = phone.locator("input[type=number]")
            value.fill("3.2")
            value.blur()
            phone.locator("fieldset.item", has=value).locator(".item-status .saved").wait_for()
            shot(phone, "07-number-item")
        if key == "emergency":
            text = phone.locator("textarea[name^=value]")
            text.fill("无其他情况")
            text.blur()
            phone.locator("fieldset.item", has=text).locator(".item-status .saved").wait_for()
            # The site's representative signs with a finger.
            pad = phone.locator("[data-signature-pad]")
            pad.scroll_into_view_if_needed()
            box = pad.bounding_box()
            phone.mouse.move(box["x"] + 20, box["y"] + 80)
            phone.mouse.down()
            for step in range(1, 12):
                phone.mouse.move(box["x"] + 20 + step * 25, box["y"] + 80 + (-1) ** step * 30)
            phone.mouse.up()
            phone.tap("[data-signature-save]")
            phone.locator("#signature img.signature-img").wait_for()
            shot(phone, "07b-signature")
    idle(phone)
    phone.tap("button[data-submit]")
    phone.wait_for_url("**/done")
    no_horizontal_scroll(phone)
    shot(phone, "08-done")
    assert phone.locator(".list li").count() == 2
    hazards = session.exec(select(Hazard).order_by(Hazard.id)).all()
    assert [h.description for h in hazards] == [
        "台账缺少十月记录",
        "未满足：灭火器配置数量足够且在有效期内",  # no finding written: says what is not met
    ]
    assert session.exec(select(HazardPhoto)).one().photo_id == photo.id
    assert len(session.exec(select(Answer)).all()) == 27  # every item of the routine checklist

    phone.tap("text=检查记录")
    phone.wait_for_url("**/record")
    assert phone.locator(".signatures img.signature-img").count() == 1
    shot(phone, "09-record")
    phone.goto(f"{live_server}/inspections")
    shot(phone, "10-home")


def test_main_pages_fit_360_and_1280(live_server, browser, make_user, region, session):
    """Screenshots of the inspector's pages at a small phone and a laptop width."""
    from inspect_app.domain import inspections

    user = make_user("inspector")
    draft = inspections.start_draft(
        session, user, region["sites"][0].id, region["template_id"], "shots-1"
    )
    for width in (360, 1280):
        context = browser.new_context(viewport={"width": width, "height": 800})
        page = context.new_page()
        sign_in(page, live_server, user.username)
        for name, path in (
            ("home", "/inspections"),
            ("new", "/inspections/new"),
            ("fill", f"/inspections/{draft.id}?section=electrical"),
        ):
            page.goto(live_server + path)
            no_horizontal_scroll(page)
            shot(page, f"{name}-{width}")
        context.close()


def test_without_javascript_the_forms_still_work(
    live_server, browser, make_user, region, session, tmp_path
):
    """No script at all: search, start, answer a section, move on, submit and see what is missing."""
    from tests.clients import PHONE

    user = make_user("inspector")
    context = browser.new_context(**PHONE, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, live_server, user.username)
        page.goto(f"{live_server}/inspections/new")
        page.fill("#q", "超市")
        page.click("text=搜索")
        assert page.locator("#sites .site").count() == 1
        page.locator("#sites .site").click()
        page.click("text=开始本次检查")
        page.wait_for_url(re.compile(r"/inspections/\d+$"))
        for group in page.locator("fieldset.item").all():
            group.locator("label:has(input[value=pass])").click()
        page.click("button[name=go]")
        page.wait_for_url("**section=fire")
        assert len(session.exec(select(Answer)).all()) == 4
        assert (
            page.locator("#progress a", has_text="安全生产责任").locator("small").inner_text()
            == "4/4"
        )
        page.locator("fieldset.item").first.locator("label:has(input[value=fail])").click()
        assert (
            page.locator("fieldset.item").first.locator(".fail-details").is_visible()
        )  # CSS alone
        page.click("button[name=go]")  # keep the "fail" before the photo form reloads the page
        page.goto(
            f"{live_server}/inspections/{session.exec(select(Inspection)).one().id}?section=fire"
        )
        first = page.locator("fieldset.item").first
        first.locator("input[type=file]").set_input_files(
            str(camera_jpeg(tmp_path / "IMG_0002.jpg"))
        )
        first.locator("button.no-js").click()
        page.locator("fieldset.item").first.locator("figure[data-photo] img").wait_for()
        assert page.locator("fieldset.item").first.locator("input[value=fail]").is_checked()
        page.click("button[data-submit]")
        assert page.locator("#problems").is_visible()
        no_horizontal_scroll(page)
        shot(page, "11-no-js-incomplete")
        assert session.exec(select(Inspection)).one().status == "draft"
    finally:
        context.close()


def test_an_answer_given_offline_is_sent_on_the_next_visit(
    live_server, phone, make_user, region, session
):
    """The network drops, the answer waits in the phone; the page is closed; next time it is sent."""
    from inspect_app.domain import inspections

    user = make_user("inspector")
    draft = inspections.start_draft(
        session, user, region["sites"][0].id, region["template_id"], "offline-1"
    )
    sign_in(phone, live_server, user.username)
    phone.goto(f"{live_server}/inspections/{draft.id}")
    phone.context.set_offline(True)
    first = phone.locator("fieldset.item").first
    first.locator("label:has(input[value=fail])").tap()
    expect(first.locator(".item-status")).to_have_text("已保存在手机上")
    expect(phone.locator("#sync-status")).to_have_text(
        re.compile("无网络：已保存在手机上，1 项待上传")
    )
    shot(phone, "12-offline-unsaved")
    phone.close()  # the page is gone before the network comes back
    assert session.exec(select(Answer)).all() == []
    phone.context.set_offline(False)
    page = phone.context.new_page()
    page.goto(f"{live_server}/inspections/{draft.id}")
    expect(page.locator("fieldset.item").first.locator("input[value=fail]")).to_be_checked()
    expect(page.locator("#sync-status")).to_have_attribute("data-pending", "0")
    answer = session.exec(select(Answer)).one()
    assert answer.result == "fail"
