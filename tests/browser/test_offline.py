"""Working offline, in a real browser at a phone's size: the service worker keeps the pages,
the outbox in IndexedDB keeps every write until the server has it. Screenshots go to
/tmp/shots/offline/.

(a) offline mid-inspection: answer, photograph, reload offline, a minute later back online.
(b) start offline, fill, submit offline, close the browser, reopen online: submitted once.
(c) uploads answered with 500s and timeouts: retried, nothing duplicated.
(d) an officer's rectification with an after-photo offline: it syncs.
(e) a new deployment's service worker takes over while a draft is open: the draft survives.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

from playwright.sync_api import expect
from sqlmodel import select

from inspect_app.domain import inspections
from inspect_app.models import Answer, AnswerPhoto, Hazard, Inspection, Photo
from tests.clients import (
    CHROMIUM,
    CHROMIUM_ARGS,
    FAST,
    PHONE,
    controlled,
    drained,
    fill_whole_checklist,
    kept_pages,
    sign_in,
    wait_kept,
)
from tests.factories import camera_jpeg

SHOTS = Path(os.environ.get("INSPECT_SHOTS_OFFLINE", "/tmp/shots/offline"))


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_offline_mid_inspection_answers_and_photo_reload_then_sync(
    live_server, phone, make_user, region, session, tmp_path
):
    user = make_user("inspector")
    draft = inspections.start_draft(
        session, user, region["sites"][0].id, region["template_id"], "offline-a"
    )
    phone.add_init_script(FAST)
    phone.clock.install()
    sign_in(phone, live_server, user.username)
    controlled(phone)
    address = inspections.page_address(draft)
    phone.goto(f"{live_server}{address}&section=fire")
    # Online, the first answer goes straight to the server.
    items = phone.locator("fieldset.item")
    items.nth(1).locator("label:has(input[value=pass])").tap()
    items.nth(1).locator(".item-status .saved:not(.local)").wait_for()
    drained(phone)
    assert session.exec(select(Answer)).one().result == "pass"

    phone.context.set_offline(True)
    first = items.first
    first.locator("label:has(input[value=fail])").tap()
    first.locator("textarea[name^=description]").fill("灭火器过期")
    first.locator("textarea[name^=description]").blur()  # leaving the field queues the answer
    first.locator("input[type=file]").set_input_files(str(camera_jpeg(tmp_path / "IMG_1.jpg")))
    expect(first.locator("figure.photo-item img")).to_have_attribute("src", re.compile("^blob:"))
    expect(phone.locator("#sync-status")).to_contain_text("无网络")
    shot(phone, "a1-offline-answer-photo")

    phone.reload()  # offline: the page comes from the phone, the answers from the outbox
    first = phone.locator("fieldset.item").first
    expect(first.locator("input[value=fail]")).to_be_checked()
    expect(first.locator("textarea[name^=description]")).to_have_value("灭火器过期")
    expect(first.locator("figure.photo-item img")).to_have_count(1)
    expect(phone.locator("fieldset.item").nth(1).locator("input[value=pass]")).to_be_checked()
    shot(phone, "a2-reloaded-offline")

    phone.clock.fast_forward("01:05")  # a minute offline: nothing is dropped
    expect(first.locator("figure.photo-item")).to_have_count(1)
    assert session.exec(select(Photo)).all() == []

    phone.context.set_offline(False)
    phone.clock.fast_forward("00:02")
    drained(phone)
    shot(phone, "a3-synced")
    answers = {a.item_id: a for a in session.exec(select(Answer)).all()}
    failed = [a for a in answers.values() if a.result == "fail"]
    assert len(answers) == 2 and len(failed) == 1
    assert failed[0].hazard_description == "灭火器过期"
    photo = session.exec(select(Photo)).one()
    link = session.exec(select(AnswerPhoto)).one()
    assert link.photo_id == photo.id and link.answer_id == failed[0].id
    assert max(photo.width, photo.height) <= 2048
    assert session.get(Inspection, draft.id).status == "draft"


def test_a_typed_text_survives_a_page_killed_before_the_typing_pause_ends(
    live_server, phone, make_user, region, session
):
    """The remark is queued after a pause in typing (or when the field is left). A page killed
    before that (the phone's system ends the tab: no pagehide, no timer) keeps every keystroke:
    the next page of the app queues it and sends it."""
    user = make_user("inspector")
    draft = inspections.start_draft(
        session, user, region["sites"][0].id, region["template_id"], "offline-typing"
    )
    phone.add_init_script(FAST)
    sign_in(phone, live_server, user.username)
    phone.goto(f"{live_server}{inspections.page_address(draft)}&section=fire")
    first = phone.locator("fieldset.item").first
    first.locator("label:has(input[value=fail])").tap()
    first.locator(".item-status .saved:not(.local)").wait_for()
    drained(phone)

    first.locator("textarea[name^=description]").fill("消防通道被货物堵塞")  # not left, no pause
    # The renderer dies at once: no pagehide, no timer.
    with phone.expect_event("crash"), contextlib.suppress(Exception):
        phone.goto("chrome://crash")
    assert session.exec(select(Answer)).one().hazard_description in (None, "")

    page = phone.context.new_page()
    page.add_init_script(FAST)
    phone.close()
    page.goto(f"{live_server}/inspections")
    deadline = time.time() + 20
    while session.exec(select(Answer)).one().hazard_description != "消防通道被货物堵塞":
        assert time.time() < deadline, "the typed text never reached the server"
        page.wait_for_timeout(200)
        session.expire_all()
    drained(page)
    assert (
        page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('inspect:typing:'))")
        == []
    )


def test_b_start_offline_submit_close_the_browser_reopen_online(
    live_server, browser, make_user, region, session, tmp_path
):
    user = make_user("inspector")
    profile = tmp_path / "profile"
    chromium = browser.browser_type  # the session's Playwright, a browser with its own profile
    if True:
        ctx = chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, **PHONE
        )
        ctx.add_init_script(FAST)
        page = ctx.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, live_server, user.username)
        controlled(page)
        wait_kept(page, "/inspections/new")
        version = session.exec(select(Inspection)).all()  # nothing yet
        assert version == []
        ctx.set_offline(True)
        page.goto(f"{live_server}/inspections/new")  # from the phone
        page.locator("#sites .site", has_text="蒸湘化工仓库").tap()
        page.tap("text=开始本次检查")
        page.wait_for_url(re.compile(r"/inspections/c/[0-9a-f-]+\?v=\d+&site=\d+$"))
        expect(page.locator("h1")).to_have_text("蒸湘化工仓库")
        shot(page, "b1-started-offline")
        fill_whole_checklist(page)
        shot(page, "b2-filled-offline")
        page.tap("button[data-submit]")
        page.wait_for_url(re.compile(r"/inspections\?queued="))
        expect(page.locator("[data-local-drafts]")).to_contain_text("已在手机上提交")
        expect(page.locator("#sync-status")).to_contain_text("无网络")
        shot(page, "b3-submitted-offline")
        assert session.exec(select(Inspection)).all() == []
        ctx.close()  # the browser is closed before the network comes back

        ctx = chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, **PHONE
        )
        ctx.add_init_script(FAST)
        page = ctx.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server}/inspections")
        drained(page, timeout=30_000)
        shot(page, "b4-reopened-synced")
        ctx.close()
    session.expire_all()
    inspection = session.exec(select(Inspection)).one()
    assert inspection.status == "submitted"
    assert len(session.exec(select(Answer)).all()) == 27
    hazards = session.exec(select(Hazard)).all()
    assert [h.description for h in hazards] == ["台账缺少十月记录"]


def flaky(calls: dict):
    """A route handler: each request first gets a 500, then its answer is lost after the server
    did the work (a timeout as the phone sees it), then it goes through."""

    def handle(route):
        key = route.request.url
        calls[key] = calls.get(key, 0) + 1
        if calls[key] == 1:
            route.fulfill(status=500, content_type="application/json", body='{"detail": "boom"}')
        elif calls[key] == 2:
            route.fetch()  # the server stores it ...
            route.abort("timedout")  # ... and the phone never hears back
        else:
            route.continue_()

    return handle


def test_c_uploads_answered_with_500s_and_timeouts_are_retried_and_nothing_duplicated(
    live_server, browser, make_user, region, session, tmp_path
):
    user = make_user("inspector")
    draft = inspections.start_draft(
        session, user, region["sites"][0].id, region["template_id"], "offline-c"
    )
    # Without the service worker: Playwright's routes see every request of the page.
    context = browser.new_context(**PHONE, service_workers="block")
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.add_init_script(FAST)
    sign_in(page, live_server, user.username)
    calls: dict[str, int] = {}
    page.route(re.compile(r"/api/v1/photos$|/answers/\d+(/photos)?$|/submit$"), flaky(calls))
    page.goto(f"{live_server}{inspections.page_address(draft)}")
    ledger = page.locator("fieldset.item").nth(3)
    ledger.locator("label:has(input[value=fail])").tap()
    ledger.locator("input[type=file]").set_input_files(str(camera_jpeg(tmp_path / "IMG_3.jpg")))
    expect(ledger.locator("figure.photo-item figcaption")).to_have_text(
        re.compile("尚未发送|上传中|等待上传|已上传")
    )
    shot(page, "c1-retrying")
    fill_whole_checklist(page)
    page.tap("button[data-submit]")
    page.wait_for_url(re.compile(r"/done$|/inspections\?queued="), timeout=30_000)
    drained(page, timeout=30_000)
    context.close()

    assert any(n >= 3 for url, n in calls.items() if url.endswith("/api/v1/photos"))
    assert any(n >= 3 for url, n in calls.items() if url.endswith("/submit"))
    session.expire_all()
    assert session.get(Inspection, draft.id).status == "submitted"
    assert len(session.exec(select(Inspection)).all()) == 1
    assert len(session.exec(select(Answer)).all()) == 27
    assert len(session.exec(select(Photo)).all()) == 1  # sent three times, stored once
    assert len(session.exec(select(AnswerPhoto)).all()) == 1
    assert len(session.exec(select(Hazard)).all()) == 1


def rectifying_hazard(session, settings, region, officer, make_user):
    from tests.factories import advance, new_hazard

    hazard = new_hazard(session, region, make_user("inspector"))
    advance(session, settings, officer, hazard.id, "rectifying")
    return session.get(Hazard, hazard.id)


def big_camera_jpeg(path: Path) -> Path:
    """A 4000x3000 camera photo (several MB): the phone must shrink it before sending."""
    from PIL import Image

    im = Image.effect_noise((4000, 3000), 60).convert("RGB")
    im.save(path, "JPEG", quality=95)
    return path


def test_d_officer_records_a_rectification_with_an_after_photo_offline(
    live_server, phone, make_user, region, session, settings, tmp_path
):
    from inspect_app.domain import hazards

    officer = make_user("officer")
    hazard = rectifying_hazard(session, settings, region, officer, make_user)
    phone.add_init_script(FAST)
    sign_in(phone, live_server, officer.username)
    controlled(phone)
    wait_kept(phone, f"/hazards/{hazard.id}")
    phone.context.set_offline(True)
    phone.goto(f"{live_server}/hazards/{hazard.id}")  # from the phone
    phone.fill("#rectify-form textarea[name=note]", "已清理通道，更换灭火器10具")
    phone.set_input_files(
        "#rectify-form input[type=file]", str(big_camera_jpeg(tmp_path / "after.jpg"))
    )
    expect(phone.locator("#rectify-form figure.photo-item img")).to_have_attribute(
        "src", re.compile("^blob:")
    )
    phone.click("#rectify-form button[type=submit]")
    expect(phone.locator("#rectify-form [data-outbox-state]")).to_have_text("已保存在手机上")
    expect(phone.locator("#sync-status")).to_have_attribute("data-pending", "2")
    shot(phone, "d1-rectified-offline")
    phone.reload()  # still offline: the photo and the note are still there
    expect(phone.locator("#rectify-form figure.photo-item")).to_have_count(1)
    expect(phone.locator("#rectify-form textarea[name=note]")).to_have_value(
        "已清理通道，更换灭火器10具"
    )
    phone.context.set_offline(False)
    phone.evaluate("window.dispatchEvent(new Event('online'))")
    drained(phone, timeout=30_000)
    shot(phone, "d2-synced")
    session.expire_all()
    assert session.get(Hazard, hazard.id).status == "rectified"
    event = hazards.hazard_events(session, hazard.id)[-1]
    assert event.action == "rectify" and event.payload["note"] == "已清理通道，更换灭火器10具"
    [photo_id] = event.payload["photo_ids"]
    photo = session.get(Photo, photo_id)
    assert max(photo.width, photo.height) <= 2048  # shrunk on the phone, not sent whole


def test_d_a_hazard_moved_on_by_another_officer_answers_409_and_keeps_the_typing(
    live_server, phone, make_user, region, session, settings, tmp_path
):
    from tests.factories import act

    officer = make_user("officer")
    other = make_user("officer")
    hazard = rectifying_hazard(session, settings, region, officer, make_user)
    phone.add_init_script(FAST)
    sign_in(phone, live_server, officer.username)
    phone.goto(f"{live_server}/hazards/{hazard.id}")
    phone.context.set_offline(True)
    phone.fill("#rectify-form textarea[name=note]", "我写的整改说明")
    phone.click("#rectify-form button[type=submit]")
    act(session, settings, other, hazard.id, "rectify")  # meanwhile, in the office
    phone.context.set_offline(False)
    phone.evaluate("window.dispatchEvent(new Event('online'))")
    state = phone.locator("#rectify-form [data-outbox-state]")
    expect(state).to_have_class("alert")
    expect(state).not_to_have_text("已保存在手机上")
    expect(phone.locator("#rectify-form textarea[name=note]")).to_have_value("我写的整改说明")
    expect(phone.locator("#sync-status")).to_have_attribute("data-refused-count", "1")
    expect(phone.locator("#sync-status [data-refused] li")).to_contain_text(state.inner_text())
    shot(phone, "d3-conflict")
    phone.reload()  # what was typed survives a reload too, with the reason
    expect(phone.locator("#sync-status [data-refused] li")).to_have_count(1)
    phone.locator("#sync-status [data-refused] button", has_text="放弃").click()
    expect(phone.locator("#sync-status")).to_have_attribute("data-refused-count", "0")


def test_e_a_new_deployment_takes_over_while_a_draft_is_open_and_the_draft_survives(
    live_server, app, phone, make_user, region, session
):
    user = make_user("inspector")
    draft = inspections.start_draft(
        session, user, region["sites"][0].id, region["template_id"], "offline-e"
    )
    phone.add_init_script(FAST)
    sign_in(phone, live_server, user.username)
    controlled(phone)
    phone.goto(f"{live_server}{inspections.page_address(draft)}")
    items = phone.locator("fieldset.item")
    items.nth(0).locator("label:has(input[value=pass])").tap()
    drained(phone)
    before = phone.evaluate("caches.keys()")
    assert len([k for k in before if k.startswith("shell-")]) == 1

    app.state.offline_version = "next-deployment"
    phone.evaluate("navigator.serviceWorker.getRegistration().then(r => r.update())")
    deadline = time.time() + 20
    while (
        "shell-next-deployment" not in phone.evaluate("caches.keys()")
        or len([k for k in phone.evaluate("caches.keys()") if k.startswith("shell-")]) != 1
    ):
        assert time.time() < deadline, phone.evaluate("caches.keys()")
        phone.wait_for_timeout(200)
    # The open draft keeps working under the new worker: the next answers are sent too.
    items.nth(1).locator("label:has(input[value=fail])").tap()
    items.nth(1).locator("textarea[name^=description]").fill("新版本接管后填写")
    items.nth(1).locator("textarea[name^=description]").blur()
    items.nth(1).locator(".item-status .saved:not(.local)").wait_for()  # the server has it
    drained(phone)
    phone.context.set_offline(True)
    phone.reload()  # offline, under the new worker: the draft is there with both answers
    expect(phone.locator("fieldset.item").nth(0).locator("input[value=pass]")).to_be_checked()
    expect(
        phone.locator("fieldset.item").nth(1).locator("textarea[name^=description]")
    ).to_have_value("新版本接管后填写")
    shot(phone, "e1-after-takeover-offline")
    phone.context.set_offline(False)
    session.expire_all()
    answers = {a.item_id: a for a in session.exec(select(Answer)).all()}
    assert sorted(a.result for a in answers.values()) == ["fail", "pass"]
    assert any(a.hazard_description == "新版本接管后填写" for a in answers.values())


def test_another_user_signing_in_drops_the_kept_pages_and_an_expired_session_pauses(
    live_server, phone, make_user, region, session
):
    """The kept pages are one user's: signing out and in as someone else drops them. A session
    that expired while answers waited pauses the queue and asks to sign in; then it resumes."""
    from inspect_app.models import AuthSession
    from tests.factories import PASSWORD

    alice, bob = make_user("inspector"), make_user("inspector")
    draft = inspections.start_draft(
        session, alice, region["sites"][0].id, region["template_id"], "alice-1"
    )
    phone.add_init_script(FAST)
    sign_in(phone, live_server, alice.username)
    controlled(phone)
    wait_kept(phone, inspections.page_address(draft))
    phone.goto(f"{live_server}{inspections.page_address(draft)}")
    phone.context.set_offline(True)
    phone.locator("fieldset.item").first.locator("label:has(input[value=fail])").tap()
    # Meanwhile the session ends on the server (expired, revoked).
    for row in session.exec(select(AuthSession)).all():
        session.delete(row)
    session.commit()
    phone.context.set_offline(False)
    phone.evaluate("window.dispatchEvent(new Event('online'))")
    expect(phone.locator("#sync-status [data-signin]")).to_be_visible()
    expect(phone.locator("#sync-status")).to_contain_text("请重新登录")
    shot(phone, "f1-signed-out")
    assert session.exec(select(Answer)).all() == []
    phone.locator("#sync-status [data-signin]").click()
    phone.fill("input[name=username]", alice.username)
    phone.fill("input[name=password]", PASSWORD)
    phone.click("button[type=submit]")
    drained(phone)
    assert session.exec(select(Answer)).one().result == "fail"

    phone.locator("form[action='/logout'] button").click()
    phone.wait_for_url("**/login")
    sign_in(phone, live_server, bob.username)
    phone.locator("html[data-kept]").wait_for(state="attached")
    assert not any("alice-1" in page for page in kept_pages(phone))


def test_g_a_hazard_reported_in_a_basement_is_on_the_server_once_back_online(
    live_server, phone, make_user, region, session, tmp_path
):
    """The report page is kept on the phone; two reports made offline (each with a photo) wait
    in the outbox, survive a reload, and arrive once each, with their photos, when online."""
    from inspect_app.models import HazardPhoto

    inspector = make_user("inspector", "蒸湘区")
    phone.add_init_script(FAST)
    sign_in(phone, live_server, inspector.username)
    controlled(phone)
    wait_kept(phone, "/hazards/new")
    phone.context.set_offline(True)
    phone.goto(f"{live_server}/hazards/new")  # from the phone
    for n, (site, text) in enumerate(
        [("蒸湘超市", "地下室配电箱门未关"), ("蒸湘化工仓库", "消防通道堆放纸箱")]
    ):
        phone.select_option("#site_id", label=site)
        phone.fill("#description", text)
        phone.set_input_files("#files", str(camera_jpeg(tmp_path / f"basement{n}.jpg")))
        expect(phone.locator("figure.photo-item img")).to_have_attribute(
            "src", re.compile("^blob:")
        )
        phone.locator("form[data-hazard-report] button[type=submit]").tap()
        expect(phone.locator("[data-report-state]")).to_contain_text("无网络")
        expect(phone.locator("#description")).to_have_value("")  # ready for the next one
    expect(phone.locator("#sync-status")).to_have_attribute("data-pending", "4")
    shot(phone, "g1-reported-offline")
    phone.reload()  # still offline: both reports and their photos still wait
    expect(phone.locator("#sync-status")).to_have_attribute("data-pending", "4")
    assert session.exec(select(Hazard)).all() == []

    phone.context.set_offline(False)
    phone.evaluate("window.dispatchEvent(new Event('online'))")
    drained(phone, timeout=30_000)
    shot(phone, "g2-synced")
    session.expire_all()
    reported = session.exec(select(Hazard).order_by(Hazard.id)).all()
    assert sorted(h.description for h in reported) == ["地下室配电箱门未关", "消防通道堆放纸箱"]
    assert all(h.reporter_id == inspector.id and h.inspection_id is None for h in reported)
    assert len({h.client_uuid for h in reported}) == 2  # the kept page's uuid was not reused
    for hazard in reported:
        assert (
            len(session.exec(select(HazardPhoto).where(HazardPhoto.hazard_id == hazard.id)).all())
            == 1
        )
