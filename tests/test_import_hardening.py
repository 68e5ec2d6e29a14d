"""Issue 12, admin imports and exports: damaged spreadsheets, YAML aliases and sizes, malformed
GeoJSON, district codes, one Content-Disposition for every download, string cells in Excel."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlmodel import func, select

from inspect_app.config import DEFAULT_TIMEZONE
from inspect_app.domain import checklists, exports
from inspect_app.domain.clock import local_today
from inspect_app.models import District, RectificationPlan, TemplateVersion
from inspect_app.web.downloads import content_disposition
from tests.conftest import DATA
from tests.make_bad_files import bad_geojson, bad_xlsx, bad_yaml
from tests.test_admin_sites import sheet, site_count
from tests.test_admin_sites import upload as admin_upload
from tests.test_reports import add_hazard, at

ZONE = ZoneInfo(DEFAULT_TIMEZONE)


@pytest.fixture
def admin_client(login_as):
    client, admin = login_as("admin")
    client.cookies.set("lang", "en")
    return client, admin


def test_openpyxl_parses_with_defusedxml():
    assert openpyxl.DEFUSEDXML is True


GOOD_SITES = sheet([[f"加油站{n}", "路", "蒸湘区", "B", 30, 26.89, 112.57] for n in range(300)])


@pytest.mark.parametrize("case", sorted(bad_xlsx(GOOD_SITES)))
def test_damaged_spreadsheets_are_refused_and_change_nothing(admin_client, region, session, case):
    client, _admin = admin_client
    before = site_count(session)
    r = admin_upload(client, "/admin/sites/import", bad_xlsx(GOOD_SITES)[case])
    assert r.status_code == 422, (case, r.status_code, r.text[:500])
    assert "cannot be read" in r.text
    assert site_count(session) == before
    assert admin_upload(client, "/admin/sites/import", GOOD_SITES).status_code == 200


def _versions(session) -> int:
    return session.exec(select(func.count()).select_from(TemplateVersion)).one()


@pytest.mark.parametrize("case", sorted(bad_yaml()))
def test_bad_yaml_checklists_are_refused(admin_client, region, session, case):
    client, _admin = admin_client
    before = _versions(session)
    text = bad_yaml()[case]
    r = admin_upload(client, "/admin/templates/import", text.encode(), "list.yaml", "text/yaml")
    assert r.status_code == 422, (case, r.status_code, r.text[:500])
    assert _versions(session) == before
    longest = session.exec(select(func.max(func.length(checklists.TemplateItem.prompt_zh)))).one()
    assert (longest or 0) <= 500


def test_aliases_are_refused_with_a_clear_reason():
    with pytest.raises(checklists.Invalid, match="aliases"):
        checklists.parse_yaml(bad_yaml()["aliases"])
    # Anchors without aliases, and plain YAML, still load.
    spec = checklists.parse_yaml(
        "name: &n {zh: 表}\nkey: k\nsections:\n  - key: s\n    title: 节\n    items:\n"
        "      - {key: i, zh: 第一项}\n"
    )
    assert spec["name_zh"] == "表"


GOOD_GEOJSON = json.loads((DATA / "hengyang_districts.geojson").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", sorted(bad_geojson(GOOD_GEOJSON)))
def test_bad_geojson_is_refused_and_changes_nothing(admin_client, region, session, case):
    client, _admin = admin_client
    before = [(d.name, d.code) for d in session.exec(select(District).order_by(District.id))]
    data = bad_geojson(GOOD_GEOJSON)[case]
    r = admin_upload(client, "/admin/districts/import", data, "d.geojson", "application/geo+json")
    assert r.status_code == 422, (case, r.status_code, r.text[:500])
    session.expire_all()
    after = [(d.name, d.code) for d in session.exec(select(District).order_by(District.id))]
    assert after == before


# --- Content-Disposition ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["weekly-2026-W47-珠晖区.pdf", 'a"b.pdf', "x\r\nSet-Cookie: a=b.xlsx", "a;b=c\\d.csv", ""],
)
def test_content_disposition_is_rfc_6266_for_any_name(name):
    from urllib.parse import unquote

    value = content_disposition(name, "inline")["Content-Disposition"]
    value.encode("ascii")  # a header value of visible ASCII only
    assert all(32 <= ord(ch) < 127 for ch in value)
    kind, fallback, extended = value.split("; ")
    assert kind == "inline"
    assert fallback.startswith('filename="') and fallback.count('"') == 2
    assert extended.startswith("filename*=UTF-8''")
    assert unquote(extended.removeprefix("filename*=UTF-8''")) == name


def test_every_download_names_its_file_safely(admin_client, region, session, settings):
    """A checklist key and a district code (stored before codes were checked) with quotes,
    line breaks and Chinese: the template export and the weekly report still answer, with a
    single-line header that names the file exactly."""
    from urllib.parse import unquote

    client, _admin = admin_client
    text = (
        "name: {zh: 表}\nkey: '清单\"; x=1'\nsections:\n  - key: s\n    title: 节\n    items:\n"
        "      - {key: i, zh: 第一项}\n"
    )
    r = admin_upload(client, "/admin/templates/import", text.encode(), "l.yaml", "text/yaml")
    assert r.status_code == 200, r.text[:500]  # redirected to the new draft
    version = session.exec(select(TemplateVersion).order_by(TemplateVersion.id.desc())).first()
    r = client.get(f"/admin/templates/{version.template_id}/versions/{version.id}.xlsx")
    assert r.status_code == 200
    header = r.headers["content-disposition"]
    assert unquote(header.split("filename*=UTF-8''")[1]).startswith('清单"; x=1-v')

    district = region["districts"]["珠晖区"]
    district.code = '珠"晖\r\nX-Evil: 1'
    session.add(district)
    session.commit()
    week = f"{local_today(ZONE).isocalendar().year}-W{local_today(ZONE).isocalendar().week:02d}"
    r = client.get(f"/reports/weekly/{week}.pdf?district={district.id}")
    assert r.status_code == 200, r.text[:500]
    assert "x-evil" not in r.headers
    assert unquote(r.headers["content-disposition"].split("filename*=UTF-8''")[1]).endswith(
        '-珠"晖\r\nX-Evil: 1.pdf'
    )


# --- Excel cells --------------------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://x","y")', "=1+1", "@SUM(A1)", "+1", "-2+3", "=cmd|' /C calc'!A0"]


def test_every_text_cell_of_the_hazard_export_is_a_string(api_as, session, region, make_user):
    """Site names, descriptions and the five determinations that look like formulas stay text."""
    site = region["sites"][0]
    site.name = "=1+1"
    session.add(site)
    reporter = make_user("inspector")
    for n, text in enumerate(FORMULAS):
        add_hazard(
            session,
            site,
            reporter,
            created=at(local_today(ZONE) - timedelta(days=n + 1)),
            description=text,
        )
    session.flush()
    for plan in session.exec(select(RectificationPlan)):
        plan.responsible_person = plan.measures = plan.rectifier = plan.acceptor = "=2*3"
        session.add(plan)
    session.commit()
    client, _user = api_as("office")
    r = client.get("/exports/hazards.xlsx")
    assert r.status_code == 200
    sheet_ = openpyxl.load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet_.iter_rows(min_row=2))
    assert len(rows) == len(FORMULAS)
    cells = [c for row in rows for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    texts = {c.value for c in cells if c.data_type == "s"}
    assert set(FORMULAS) <= texts and {"=1+1", "=2*3"} <= texts
    # The CSV export keeps its guard: a leading quote.
    csv_text = client.get("/exports/hazards.csv").content.decode("utf-8-sig")
    assert "'=1+1" in csv_text and "\n=" not in csv_text


def test_the_template_export_writes_string_cells(session, region):
    spec = checklists.parse_yaml(
        "name: {zh: '=1+1'}\nkey: k\nsections:\n  - key: s\n    title: '=A1'\n    items:\n"
        "      - {key: i, zh: '=HYPERLINK(\"http://x\")', guidance: '@cmd', basis: '+1'}\n"
    )
    book = openpyxl.load_workbook(io.BytesIO(checklists.spec_to_xlsx(spec)))
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert {"=1+1", "=A1", '=HYPERLINK("http://x")', "@cmd", "+1"} <= {c.value for c in cells}


def test_exports_module_writes_through_the_one_cell_helper():
    """xlsx_chunks on rows straight from the domain: no openpyxl formula in the output."""
    rows = [[1, "区", "=1+1", "一般", "整改中", "=x", "=y", None, None, None, "", "", "", "", ""]]
    data = b"".join(exports.xlsx_chunks(iter(rows)))
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    assert [c.data_type for c in ws[2] if c.value is not None][:4] == ["n", "s", "s", "s"]
