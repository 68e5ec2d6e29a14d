"""Hazard exports: CSV (UTF-8 with BOM) and Excel, parsed back and compared with the hazard list."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from inspect_app.config import DEFAULT_TIMEZONE
from inspect_app.domain import exports
from inspect_app.domain.clock import local_today
from inspect_app.domain.hazards import HazardFilters
from inspect_app.models import HazardStatus, utcnow
from tests.test_reports import add_hazard, at

ZONE = ZoneInfo(DEFAULT_TIMEZONE)


@pytest.fixture
def hazards(session, region, make_user):
    """Hazards in both districts by two inspectors: planned, overdue, accepted, major, and one
    whose description Excel would take for a formula."""
    zx_plant, zx_shop, zh_plant = region["sites"]
    first = make_user("inspector", "蒸湘区")
    second = make_user("inspector", "珠晖区")
    today = local_today(ZONE)
    made = [
        add_hazard(
            session,
            zx_plant,
            first,
            created=at(today - timedelta(days=20)),
            grade="major",
            deadline=today - timedelta(days=3),
            description="液氨储罐泄漏报警器失效",
        ),
        add_hazard(
            session,
            zx_shop,
            first,
            created=at(today - timedelta(days=10)),
            deadline=today,
            accepted=at(today - timedelta(days=1)),
            description="灭火器过期",
        ),
        add_hazard(
            session,
            zx_shop,
            first,
            created=at(today - timedelta(days=2)),
            plan=False,
            description='=HYPERLINK("http://x")',
        ),
        add_hazard(
            session,
            zh_plant,
            second,
            created=at(today - timedelta(days=5)),
            deadline=today + timedelta(days=5),
            description="配电箱未上锁，\n线路老化",
        ),
    ]
    return {"made": made, "first": first, "second": second}


def read_csv(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "Excel needs the UTF-8 byte-order mark"
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def read_xlsx(content: bytes) -> list[list]:
    sheet = load_workbook(io.BytesIO(content)).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def listed(client, **params) -> list[dict]:
    r = client.get("/api/v1/hazards", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def assert_rows_match_list(rows: list[list], items: list[dict]) -> None:
    assert [int(row[0]) for row in rows] == [
        item["id"] for item in items
    ]  # same hazards, same order
    for row, item in zip(rows, items):
        assert row[1] == item["district"]["name"] and row[2] == item["site"]["name"]
        assert row[3] == ("重大隐患" if item["grade"] == "major" else "一般隐患")
        assert str(row[8] or "")[:10] == (item["deadline"] or "")
        assert (row[10] == "是") == item["overdue"]


def test_csv_has_bom_header_and_one_row_per_listed_hazard(api_as, hazards):
    client, _ = api_as("office")
    r = client.get("/exports/hazards.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    header, *rows = read_csv(r.content)
    assert header == [
        "编号",
        "区县",
        "生产经营单位",
        "隐患等级",
        "状态",
        "类别",
        "隐患描述",
        "发现时间",
        "整改期限",
        "已验收",
        "已逾期",
        "责任人",
        "整改措施",
        "整改人",
        "验收人",
    ]
    assert_rows_match_list(rows, listed(client))
    by_id = {int(row[0]): row for row in rows}
    planned, accepted, formula, multiline = hazards["made"]
    assert by_id[planned.id][11:] == ["张三", "清理通道，设置标识", "李四", "王五"]
    assert by_id[accepted.id][4] == "已验收" and by_id[accepted.id][9]
    assert by_id[multiline.id][6] == "配电箱未上锁，\n线路老化"
    assert by_id[formula.id][6] == '\'=HYPERLINK("http://x")'  # never a live formula in Excel


def test_xlsx_matches_the_list_with_a_frozen_header_and_widths(api_as, hazards):
    client, _ = api_as("office")
    r = client.get("/exports/hazards.xlsx")
    assert r.status_code == 200
    assert (
        r.headers["content-type"]
        == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    book = load_workbook(io.BytesIO(r.content))
    sheet = book.active
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["G"].width >= 40  # the description has room
    header, *rows = read_xlsx(r.content)
    assert header[0] == "编号" and header[-1] == "验收人"
    assert_rows_match_list(rows, listed(client))
    created = rows[0][7]
    assert hasattr(created, "year")  # a real date-time cell, sortable in Excel


@pytest.mark.parametrize(
    "params",
    [
        {"district": "珠晖区"},
        {"grade": "major"},
        {"status": "open"},
        {"overdue": "true"},
        {"status": "accepted"},
        {"since": (local_today(ZONE) - timedelta(days=6)).isoformat()},
    ],
)
def test_exports_apply_the_hazard_list_filters(api_as, hazards, params):
    client, _ = api_as("office")
    items = listed(client, **params)
    csv_rows = read_csv(client.get("/exports/hazards.csv", params=params).content)[1:]
    xlsx_rows = read_xlsx(client.get("/exports/hazards.xlsx", params=params).content)[1:]
    assert_rows_match_list(csv_rows, items)
    assert_rows_match_list(xlsx_rows, items)
    assert len(items) < len(hazards["made"])  # the filter did filter


def test_officer_exports_only_their_district(login_as, hazards):
    client, officer = login_as("officer", "珠晖区")
    rows = read_csv(client.get("/exports/hazards.csv").content)[1:]
    assert {row[1] for row in rows} == {"珠晖区"}
    assert_rows_match_list(rows, listed(client))
    # asking for another district's hazards gives nothing rather than them
    assert (
        read_csv(client.get("/exports/hazards.csv", params={"district": "蒸湘区"}).content)[1:]
        == []
    )


def test_inspector_exports_only_what_they_reported(api_as, hazards, session, region):
    client, inspector = api_as("inspector", "蒸湘区")
    add_hazard(session, region["sites"][0], inspector, created=utcnow())
    rows = read_xlsx(client.get("/exports/hazards.xlsx").content)[1:]
    assert len(rows) == 1
    assert_rows_match_list(rows, listed(client))


def test_bad_filters_are_refused(api_as, hazards):
    client, _ = api_as("office")
    assert client.get("/exports/hazards.csv", params={"grade": "huge"}).status_code == 422
    r = client.get("/exports/hazards.xlsx", params={"district": "不存在区"})
    assert r.status_code == 422 and "不存在区" in r.json()["detail"]
    assert (
        client.get(
            "/exports/hazards.csv", params={"since": "2026-12-01", "until": "2026-11-01"}
        ).status_code
        == 422
    )


def test_exports_need_a_signed_in_user(client, hazards):
    r = client.get("/exports/hazards.csv", headers={"accept": "text/csv"})
    assert r.status_code == 401


def test_rows_are_paged_by_keyset_across_batches(session, hazards, make_user, region):
    """Small batches: every hazard exactly once, in the list's order, equal created_at ties included."""
    office = make_user("office")
    same_time = at(local_today(ZONE) - timedelta(days=1))
    for _ in range(5):
        add_hazard(session, region["sites"][0], hazards["first"], created=same_time)
    ids = [row[0] for row in exports.hazard_rows(session, office, HazardFilters(ZONE), batch=2)]
    assert len(ids) == len(set(ids)) == 9
    created = {
        row[0]: row[7]
        for row in exports.hazard_rows(session, office, HazardFilters(ZONE), batch=1000)
    }
    assert ids == sorted(ids, key=lambda i: (created[i], i), reverse=True)


def test_excel_refuses_more_rows_than_a_sheet_holds(session, hazards, make_user, monkeypatch):
    office = make_user("office")
    monkeypatch.setattr(exports, "EXCEL_MAX_ROWS", 3)
    with pytest.raises(exports.Invalid):
        exports.check_excel_size(session, office, HazardFilters(ZONE))
    exports.check_excel_size(session, office, HazardFilters(ZONE, status=HazardStatus.accepted))
