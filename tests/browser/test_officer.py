"""An officer on a phone closes the loop of one hazard: plan -> rectify with a photo -> reject ->
rectify -> accept, each step an htmx swap of the hazard block (no full reload).

Screenshots at 360 and 1280 px go to /tmp/shots/hazards/ (outside the repository) for a look.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from inspect_app.config import DEFAULT_TIMEZONE
from inspect_app.domain import hazards, photos
from inspect_app.domain.clock import local_today
from tests.browser.conftest import sign_in
from tests.test_hazards import jpeg

ZONE = ZoneInfo(DEFAULT_TIMEZONE)

SHOTS = Path("/tmp/shots/hazards")


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 844})
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(300)  # let the map follow the new size before the picture
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (
            f"{name} scrolls sideways at {width}"
        )
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})


def rectify(page, tmp_path: Path, note: str, color: str) -> None:
    photo = tmp_path / f"after-{color}.jpg"
    photo.write_bytes(jpeg(color, (800, 600)))
    page.fill("#rectify-form textarea[name=note]", note)
    page.set_input_files("#rectify-form input[type=file]", str(photo))
    # The script uploads the photo at once and keeps its id in the form.
    page.wait_for_selector("#rectify-form [data-uploaded] input[name=photo_ids]", state="attached")
    page.click("#rectify-form button[type=submit]")
    page.wait_for_selector(".hz-reject")


def test_officer_closes_the_loop_on_a_phone(
    live_server, phone, make_user, region, session, settings, tmp_path
):
    officer = make_user("officer")
    inspector = make_user("inspector")
    site = region["sites"][0]
    finding = photos.ingest_bytes(session, settings, inspector, jpeg("orange", (800, 600)))
    hazard = hazards.create_hazard(
        session,
        reporter=inspector,
        site=site,
        grade="major",
        category="消防安全",
        description="消防通道堵塞，灭火器过期",
        photo_ids=[finding.id],
        lat=site.lat,
        lon=site.lon,
    )
    session.commit()

    sign_in(phone, live_server, officer.username)
    assert phone.url.endswith("/hazards")
    shoot(phone, "list")
    phone.click(f"a[href='/hazards/{hazard.id}']")
    phone.wait_for_selector("#plan-form")
    phone.wait_for_selector(
        "#hazard-map.leaflet-container path"
    )  # the pin (and district outline) drawn
    shoot(phone, "detail-reported")
    phone.evaluate("window.__sameDocument = true")

    # Plan (五定), with what a major hazard also needs.
    phone.fill("input[name=responsible_person]", "张经理")
    phone.fill("textarea[name=measures]", "清理消防通道，更换过期灭火器")
    phone.fill("input[name=deadline]", (local_today(ZONE) + timedelta(days=7)).isoformat())
    phone.fill("input[name=rectifier]", "李师傅")
    phone.fill("input[name=acceptor]", "王科长")
    phone.fill("input[name=funds]", "5000元")
    phone.fill("textarea[name=interim_measures]", "设置警戒区，专人看守")
    phone.click(".segmented label:has(input[value=no])")
    phone.click("#plan-form button[type=submit]")
    phone.wait_for_selector("#rectify-form")
    assert phone.locator("#hazard .spread .status-rectifying").count() == 1

    rectify(phone, tmp_path, "已清理通道，更换灭火器10具", "green")
    shoot(phone, "detail-rectified")
    phone.fill(".hz-reject textarea[name=reason]", "通道仍有杂物")
    phone.click(".hz-reject button[type=submit]")
    phone.wait_for_selector("#rectify-form")
    assert "通道仍有杂物" in phone.inner_text(".timeline")

    rectify(phone, tmp_path, "杂物已全部清走", "teal")
    phone.click(".hz-accept button[type=submit]")
    phone.wait_for_selector("#hazard .status-accepted")
    assert phone.evaluate("window.__sameDocument === true"), "a step reloaded the whole page"
    assert phone.locator(".timeline > li").count() == 6
    assert (
        phone.locator(".before-after .photos img").count() == 2
    )  # the finding, and the latest after-photo
    assert phone.locator("#rectify-form, #plan-form, .hz-accept").count() == 0
    shoot(phone, "detail-accepted")

    session.expire_all()
    events = [e.action for e in hazards.hazard_events(session, hazard.id)]
    assert events == ["created", "plan", "rectify", "reject", "rectify", "accept"]
