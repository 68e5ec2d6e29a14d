"""Weekly PDF reports: contents (parsed back with pypdf), the archive, access rules, bad weeks."""

from __future__ import annotations

import io
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlmodel import select

from inspect_app.cli import main as cli_main
from inspect_app.config import DEFAULT_TIMEZONE
from inspect_app.domain import photos as photo_store
from inspect_app.domain import reports
from inspect_app.domain.clock import local_today
from inspect_app.domain.errors import Invalid, NotFound
from inspect_app.models import (
    Hazard,
    HazardPhoto,
    Inspection,
    RectificationPlan,
    Report,
    utcnow,
)

ZONE = ZoneInfo(DEFAULT_TIMEZONE)

LAST_WEEK = reports.week_of(local_today(ZONE) - timedelta(days=14))


def at(day, hour=10):
    """An instant on a local calendar day."""
    return datetime.combine(day, time(hour), tzinfo=ZONE)


def jpeg(colour) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), colour).save(buf, "JPEG")
    return buf.getvalue()


def add_hazard(
    session,
    site,
    reporter,
    *,
    created,
    grade="general",
    deadline=None,
    accepted=None,
    plan=True,
    photo=None,
    description="消防通道堵塞",
):
    status = "accepted" if accepted else ("rectifying" if plan else "reported")
    h = Hazard(
        site_id=site.id,
        district_id=site.district_id,
        reporter_id=reporter.id,
        grade=grade,
        category="消防安全",
        description=description,
        status=status,
        created_at=created,
        updated_at=accepted or created,
        deadline=deadline,
        accepted_at=accepted,
    )
    session.add(h)
    session.flush()
    if plan:
        session.add(
            RectificationPlan(
                hazard_id=h.id,
                responsible_person="张三",
                measures="清理通道，设置标识",
                deadline=deadline or created.date() + timedelta(days=7),
                rectifier="李四",
                acceptor="王五",
                set_by=reporter.id,
                set_at=created,
            )
        )
    if photo is not None:
        session.add(HazardPhoto(hazard_id=h.id, photo_id=photo.id, kind="finding"))
    session.commit()
    return h


@pytest.fixture
def week_data(session, settings, region, make_user):
    """Last-but-one week: hazards in both districts, a major one with a photo, an overdue one,
    one closed, a major one without a plan; one inspection (蒸湘超市 is then covered, the
    others are not)."""
    inspector = make_user("inspector")
    zx_plant, zx_shop, zh_plant = region["sites"]
    w = LAST_WEEK
    for site in region["sites"]:  # registered long before the week, so coverage counts them
        site.created_at = at(w.start - timedelta(days=120))
        session.add(site)
    photo = photo_store.ingest_bytes(session, settings, inspector, jpeg((200, 40, 40)))
    major = add_hazard(
        session,
        zx_plant,
        inspector,
        created=at(w.start),
        grade="major",
        deadline=w.start + timedelta(days=3),
        photo=photo,
        description="液氨储罐泄漏报警器失效",
    )
    general = add_hazard(
        session,
        zh_plant,
        inspector,
        created=at(w.start + timedelta(days=1)),
        deadline=w.start + timedelta(days=2),
        description="配电箱未上锁",
    )
    closed = add_hazard(
        session,
        zx_shop,
        inspector,
        created=at(w.start + timedelta(days=1)),
        deadline=w.end,
        accepted=at(w.start + timedelta(days=4)),
    )
    unplanned = add_hazard(
        session,
        zh_plant,
        inspector,
        created=at(w.start + timedelta(days=2)),
        plan=False,
        grade="major",
        description="未设置安全出口指示",
    )
    previous = add_hazard(session, zx_shop, inspector, created=at(w.previous().start))
    session.add(
        Inspection(
            client_uuid="wk-1",
            template_version_id=region["template_version"].id,
            site_id=zx_shop.id,
            inspector_id=inspector.id,
            status="submitted",
            started_at=at(w.start),
            submitted_at=at(w.start, 11),
        )
    )
    session.commit()
    return {
        "inspector": inspector,
        "major": major,
        "general": general,
        "closed": closed,
        "unplanned": unplanned,
        "previous": previous,
        "photo": photo,
    }


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def image_count(content: bytes) -> int:
    reader = PdfReader(io.BytesIO(content))
    return sum(len(page.images) for page in reader.pages)


def percent(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def district_row(text: str, name: str) -> list[str]:
    """The nine figures after a district's name in the district table (one cell per line)."""
    lines = text.splitlines()
    start = lines.index("风险等级" if "风险等级" in lines else "级")
    at_name = lines.index(name, start)
    return lines[at_name + 1 : at_name + 10]


def get_pdf(client, week=LAST_WEEK.label, district=None):
    return client.get(
        f"/reports/weekly/{week}.pdf", params={"district": district} if district else None
    )


# --- contents ----------------------------------------------------------------------------------


def test_city_report_names_every_district_and_carries_the_stats_api_figures(login_as, week_data):
    client, _office = login_as("office")
    r = get_pdf(client)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    text = pdf_text(r.content)
    stats = client.get(
        "/api/v1/stats/districts",
        params={"since": LAST_WEEK.start.isoformat(), "until": LAST_WEEK.end.isoformat()},
    )
    assert stats.status_code == 200, stats.text
    rows = stats.json()["items"]
    assert {row["district"]["name"] for row in rows} == {"蒸湘区", "珠晖区"}
    for row in rows:
        assert district_row(text, row["district"]["name"]) == [
            str(row["new"]),
            str(row["closed"]),
            str(row["open"]),
            str(row["major"]),
            str(row["general"]),
            str(row["overdue"]),
            percent(row["rectification_rate"]),
            percent(row["coverage"]),
            {"red": "红", "orange": "橙", "yellow": "黄", "blue": "蓝"}[row["risk_level"]],
        ]
    # the figures for this data, spelled out: 蒸湘区 has the major and the closed hazard
    assert district_row(text, "蒸湘区") == ["2", "1", "2", "1", "1", "1", "50.0%", "50.0%", "红"]
    assert district_row(text, "珠晖区") == ["2", "0", "2", "1", "1", "1", "0.0%", "0.0%", "红"]
    assert "页 / 共" in text and "第 1 页" in text
    assert LAST_WEEK.label in text
    assert "液氨储罐泄漏报警器失效" in text and "配电箱未上锁" in text  # major and overdue listed
    assert "张三" in text and "尚未制定整改方案" in text  # plan, and the missing one
    assert image_count(r.content) >= 1  # the finding photo is embedded


def test_photos_are_embedded_as_image_xobjects(login_as, week_data):
    client, _ = login_as("office")
    content = get_pdf(client).content
    reader = PdfReader(io.BytesIO(content))
    xobjects = []
    for page in reader.pages:
        resources = page.get("/Resources") or {}
        for obj in (resources.get("/XObject") or {}).values():
            xobjects.append(obj.get_object()["/Subtype"])
    assert "/Image" in xobjects


def test_chinese_font_is_embedded_as_a_subset(login_as, week_data):
    client, _ = login_as("office")
    reader = PdfReader(io.BytesIO(get_pdf(client).content))
    fonts = set()
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            fonts.add(str(font["/BaseFont"]))
            descendants = font.get("/DescendantFonts")
            for d in descendants or []:
                descriptor = d.get_object().get("/FontDescriptor")
                if descriptor:
                    assert (
                        "/FontFile2" in descriptor.get_object()
                    )  # the TrueType program is in the file
    assert any("WenQuanYi" in f for f in fonts), fonts


def test_district_report_for_an_officer_of_that_district(login_as, week_data):
    client, _officer = login_as("officer", "蒸湘区")
    r = get_pdf(client, district="蒸湘区")
    assert r.status_code == 200, r.text
    text = pdf_text(r.content)
    assert "蒸湘区" in text
    assert "配电箱未上锁" not in text  # 珠晖区's hazard is not in 蒸湘区's report
    assert "液氨储罐泄漏报警器失效" in text


def test_current_week_is_reported_so_far_and_not_archived(login_as, week_data, session):
    client, _ = login_as("office")
    current = reports.week_of(local_today(ZONE))
    r = get_pdf(client, current.label)
    assert r.status_code == 200
    assert "截至" in pdf_text(r.content) or "进行中" in pdf_text(r.content)
    assert session.exec(select(Report)).all() == []


# --- archive -----------------------------------------------------------------------------------


def test_archive_serves_the_same_bytes_until_late_data_arrives(
    login_as, week_data, session, settings, region
):
    client, office = login_as("office")
    first = get_pdf(client)
    second = get_pdf(client)
    assert first.content == second.content
    stored = session.exec(select(Report)).all()
    assert len(stored) == 1
    assert stored[0].week == LAST_WEEK.label and stored[0].district_id is None
    assert stored[0].size == len(first.content) and stored[0].created_by == office.id
    path = settings.upload_dir / "reports" / f"{stored[0].sha256}.pdf"
    assert path.read_bytes() == first.content
    # A late hazard for that week (entered after the week ended) changes the report.
    add_hazard(
        session,
        region["sites"][2],
        week_data["inspector"],
        created=at(LAST_WEEK.end, 9),
        description="迟报隐患",
    )
    third = get_pdf(client)
    assert third.content != first.content
    assert "迟报隐患" not in pdf_text(first.content)
    rows = session.exec(select(Report).order_by(Report.id)).all()
    assert (
        len(rows) == 2
        and rows[0].data_version != rows[1].data_version
        and rows[0].sha256 != rows[1].sha256
    )
    assert get_pdf(client).content == third.content
    # Data of another week does not disturb it.
    add_hazard(session, region["sites"][2], week_data["inspector"], created=utcnow())
    assert get_pdf(client).content == third.content


def test_a_late_acceptance_regenerates_the_report(login_as, week_data, session):
    client, _ = login_as("office")
    first = get_pdf(client).content
    h = session.get(Hazard, week_data["general"].id)
    h.status, h.accepted_at = "accepted", at(LAST_WEEK.end, 8)
    session.add(h)
    session.commit()
    assert get_pdf(client).content != first


def test_a_stored_file_that_went_missing_is_made_again(login_as, week_data, session, settings):
    client, _ = login_as("office")
    get_pdf(client)
    stored = session.exec(select(Report)).one()
    (settings.upload_dir / "reports" / f"{stored.sha256}.pdf").unlink()
    again = get_pdf(client)
    assert again.status_code == 200 and again.content.startswith(b"%PDF")


def test_stored_reports_are_listed_and_downloadable_by_the_office(login_as, week_data, session):
    office_client, _ = login_as("office")
    made = get_pdf(office_client)
    report = session.exec(select(Report)).one()
    other_office, _ = login_as("office")
    page = other_office.get("/reports")
    assert page.status_code == 200
    assert f"/reports/archive/{report.id}.pdf" in page.text
    assert f"/reports/weekly/{LAST_WEEK.label}.pdf" in page.text
    r = other_office.get(f"/reports/archive/{report.id}.pdf")
    assert r.status_code == 200 and r.content == made.content
    assert other_office.get("/reports/archive/999999.pdf").status_code == 404


def test_officers_see_only_their_districts_stored_reports(login_as, week_data, session):
    office_client, _ = login_as("office")
    get_pdf(office_client)  # city
    get_pdf(office_client, district="珠晖区")
    city, zh = session.exec(select(Report).order_by(Report.id)).all()
    officer, _ = login_as("officer", "蒸湘区")
    assert officer.get(f"/reports/archive/{city.id}.pdf").status_code == 404
    assert officer.get(f"/reports/archive/{zh.id}.pdf").status_code == 404
    page = officer.get("/reports").text
    assert (
        f"/reports/archive/{zh.id}.pdf" not in page
        and f"/reports/archive/{city.id}.pdf" not in page
    )
    officer_zh, _ = login_as("officer", "珠晖区")
    assert officer_zh.get(f"/reports/archive/{zh.id}.pdf").status_code == 200


# --- access and bad input ------------------------------------------------------------------------


def test_access_rules(login_as, api_as, week_data, client):
    officer, _ = login_as("officer", "蒸湘区")
    assert get_pdf(officer).status_code == 403  # the city report
    assert get_pdf(officer, district="珠晖区").status_code == 403
    inspector, _ = login_as("inspector")
    assert get_pdf(inspector).status_code == 403
    assert get_pdf(inspector, district="蒸湘区").status_code == 403
    assert inspector.get("/reports").status_code == 403
    admin, _ = api_as("admin")  # a script with a bearer token
    assert get_pdf(admin, district="珠晖区").status_code == 200
    anonymous = client.get(
        f"/reports/weekly/{LAST_WEEK.label}.pdf", headers={"accept": "application/pdf"}
    )
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    "week,status,words",
    [
        ("2026-W99", 404, "2026"),
        ("2025-W53", 404, "52"),  # 2025 has 52 ISO weeks
        ("2026-47", 422, "2026-W47"),
        ("last-week", 422, "2026-W47"),
        ("2999-W01", 422, "2999-W01"),  # not begun
    ],
)
def test_bad_weeks_are_refused_with_a_message(api_as, region, week, status, words):
    client, _ = api_as("office")
    r = get_pdf(client, week)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


def test_unknown_district_is_refused(api_as, region):
    client, _ = api_as("office")
    r = get_pdf(client, district="不存在区")
    assert r.status_code == 422 and "不存在区" in r.json()["detail"]


def test_parse_week_and_targets(session, region):
    assert reports.parse_week("2026-W47") == reports.Week(2026, 47)
    assert reports.Week(2026, 47).start.isoformat() == "2026-11-16"
    assert reports.Week(2026, 47).end.isoformat() == "2026-11-22"
    assert reports.Week(2026, 1).previous() == reports.Week(2025, 52)
    assert reports.parse_week("2020-W53").end.isoformat() == "2021-01-03"
    with pytest.raises(NotFound):
        reports.parse_week("2021-W53")
    with pytest.raises(Invalid):
        reports.parse_week("W47")
    today = reports.Week(2026, 48).start + timedelta(days=2)  # Wednesday
    current = reports.check_request(session, None, "2026-W48", None, today=today, zone=ZONE)
    assert current.until == today and not current.finished
    finished = reports.check_request(session, None, "2026-W47", "蒸湘区", today=today, zone=ZONE)
    assert finished.finished and finished.district.name == "蒸湘区"
    with pytest.raises(Invalid):
        reports.check_request(session, None, "2026-W49", None, today=today, zone=ZONE)


def test_form_redirects_to_the_pdf_address(login_as, region):
    client, _ = login_as("office")
    r = client.get(
        "/reports/weekly",
        params={"week": LAST_WEEK.label, "district": "蒸湘区"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    district_id = region["districts"]["蒸湘区"].id
    assert r.headers["location"] == f"/reports/weekly/{LAST_WEEK.label}.pdf?district={district_id}"
    assert client.get("/reports/weekly", params={"week": "2026-W99"}).status_code == 404


def test_officer_page_offers_only_their_district(login_as, region):
    client, _ = login_as("officer", "珠晖区")
    page = client.get("/reports").text
    assert "珠晖区" in page and "蒸湘区" not in page


# --- command line --------------------------------------------------------------------------------


def test_cli_writes_the_report(tmp_path, week_data, settings, monkeypatch, capsys):
    monkeypatch.setenv("INSPECT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("INSPECT_UPLOAD_DIR", str(settings.upload_dir))
    out = tmp_path / "week.pdf"
    assert (
        cli_main(
            [
                "report",
                "weekly",
                "--week",
                LAST_WEEK.label,
                "--district",
                "珠晖区",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert "珠晖区" in pdf_text(out.read_bytes())
    assert cli_main(["report", "weekly", "--week", "2026-W99", "-o", str(tmp_path / "x.pdf")]) == 2
    assert "2026" in capsys.readouterr().err
    assert not (tmp_path / "x.pdf").exists()
