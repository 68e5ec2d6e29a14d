"""The rectification notice (隐患整改通知书): one page, Chinese text embedded, photos, the plan."""

from __future__ import annotations

import io
from datetime import timedelta
from zoneinfo import ZoneInfo

from pypdf import PdfReader

from inspect_app.config import DEFAULT_TIMEZONE
from inspect_app.domain import hazards
from inspect_app.domain.clock import local_today
from inspect_app.models import HazardPhoto
from tests.test_hazards import new_hazard, photo_of, plan_fields

ZONE = ZoneInfo(DEFAULT_TIMEZONE)


def pdf_of(response) -> PdfReader:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    return PdfReader(io.BytesIO(response.content))


def images_on(page) -> int:
    xobjects = page["/Resources"].get("/XObject") or {}
    return sum(1 for x in xobjects.values() if x.get_object()["/Subtype"] == "/Image")


def test_notice_of_a_major_hazard_with_its_plan(login_as, session, region, settings):
    client, officer = login_as("officer")
    hazard = new_hazard(session, region, officer, grade="major", settings=settings, with_photo=True)
    deadline = local_today(ZONE) + timedelta(days=10)
    hazards.set_plan(
        session, officer, hazard.id, settings=settings, **plan_fields("major", deadline)
    )
    reader = pdf_of(client.get(f"/hazards/{hazard.id}/notice.pdf"))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    for expected in (
        "隐患整改通知书",
        "蒸湘化工仓库",
        "蒸湘区长丰大道1号",
        "重大隐患",
        "消防通道堵塞，灭火器过期",
        "五定",
        "张经理",
        "清理通道，更换灭火器",
        deadline.isoformat(),
        "李师傅",
        "王科长",
        "5000元",
        "专人看守",
        "停产停业",
        "签收",
    ):
        assert expected in text, expected
    assert images_on(reader.pages[0]) == 1
    fonts = [f.get_object()["/BaseFont"] for f in reader.pages[0]["/Resources"]["/Font"].values()]
    assert any("WenQuanYi" in name for name in fonts), fonts  # embedded, not left to the reader


def test_notice_without_a_plan_says_so(login_as, session, region):
    client, officer = login_as("officer")
    hazard = new_hazard(session, region, officer)
    text = pdf_of(client.get(f"/hazards/{hazard.id}/notice.pdf")).pages[0].extract_text()
    assert "一般隐患" in text and "尚未制定" in text


def test_a_long_notice_still_fits_one_page(login_as, session, region, settings):
    client, officer = login_as("officer")
    hazard = new_hazard(session, region, officer, grade="major", settings=settings, with_photo=True)
    for position in range(1, 5):  # more photos than the notice shows
        session.add(
            HazardPhoto(
                hazard_id=hazard.id,
                photo_id=photo_of(session, settings, officer),
                kind="finding",
                position=position,
            )
        )
    session.commit()
    hazards.set_plan(
        session,
        officer,
        hazard.id,
        settings=settings,
        **(
            plan_fields("major")
            | {"measures": "清理并更换设备。" * 200, "interim_measures": "专人看守。" * 300}
        ),
    )
    reader = pdf_of(client.get(f"/hazards/{hazard.id}/notice.pdf"))
    assert len(reader.pages) == 1 and images_on(reader.pages[0]) == 3


def test_notice_follows_who_may_see_the_hazard(login_as, session, region, make_user):
    reporter_client, reporter = login_as("inspector")
    hazard = new_hazard(session, region, reporter)
    assert reporter_client.get(f"/hazards/{hazard.id}/notice.pdf").status_code == 200
    other_officer, _ = login_as("officer", "珠晖区")
    other_inspector, _ = login_as("inspector")
    for c in (other_officer, other_inspector):
        assert (
            c.get(f"/hazards/{hazard.id}/notice.pdf", headers={"accept": "text/html"}).status_code
            == 404
        )
    assert login_as("office")[0].get(f"/hazards/{hazard.id}/notice.pdf").status_code == 200
