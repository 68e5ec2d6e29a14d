"""The office opens the hazard map on a phone, filters to major hazards and opens a popup."""

from __future__ import annotations

import io
import re

from PIL import Image
from playwright.sync_api import expect

from inspect_app.domain import hazards as hz
from inspect_app.domain import photos
from tests.clients import sign_in


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(buf, "JPEG")
    return buf.getvalue()


def test_filter_to_major_hazards_and_open_a_popup(
    live_server, phone, session, settings, region, make_user
):
    inspector = make_user("inspector")
    photo = photos.ingest_bytes(session, settings, inspector, jpeg())
    z1, _z2, h1 = region["sites"]
    major = hz.create_hazard(
        session,
        reporter=inspector,
        site=z1,
        grade="major",
        description="储罐泄漏",
        photo_ids=[photo.id],
        lat=z1.lat,
        lon=z1.lon,
    )
    for n in range(4):
        hz.create_hazard(
            session,
            reporter=inspector,
            site=h1,
            grade="general",
            description=f"通道堵塞{n}",
            lat=h1.lat + n * 0.001,
            lon=h1.lon,
        )
    session.commit()
    office = make_user("office")
    sign_in(phone, live_server, office.username)

    phone.goto(f"{live_server}/map")
    phone.wait_for_selector("path.hazard-point")
    assert (
        phone.locator("path.leaflet-interactive").count() >= 2 + 5
    )  # two districts + five hazards
    expect(phone.locator("#map-status")).to_have_text(re.compile(r"^5 "))

    phone.select_option("select[name=grade]", "major")
    phone.click("#main form button[type=submit]")
    phone.wait_for_url("**grade=major**")
    expect(phone.locator("#map-status")).to_have_text(re.compile(r"^1 "))
    points = phone.locator("path.hazard-point")
    assert points.count() == 1 and "grade-major" in points.first.get_attribute("class")

    points.first.click()
    popup = phone.locator(".leaflet-popup-content")
    popup.wait_for()
    assert "储罐泄漏" in popup.inner_text() and "蒸湘化工仓库" in popup.inner_text()
    assert popup.locator("img").get_attribute("src") == f"/photos/{photo.id}/thumb"
    expect(popup.locator("img")).to_have_js_property("complete", True)
    assert popup.locator("img").evaluate("img => img.naturalWidth") > 0  # the thumbnail is served
    assert popup.locator("a").get_attribute("href") == f"/hazards/{major.id}"
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
