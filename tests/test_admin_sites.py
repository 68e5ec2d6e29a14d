"""The sites register and the districts in administration: forms, Excel import, GeoJSON upload."""

from __future__ import annotations

import json

import pytest
from sqlmodel import func, select

from inspect_app.models import AuditLog, District, Inspection, Site
from tests.clients import csrf
from tests.clients import upload_form as upload
from tests.factories import DATA, SITES_HEADER, site_count
from tests.factories import sites_sheet as sheet

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = SITES_HEADER


@pytest.fixture
def admin_client(login_as):
    client, admin = login_as("admin")
    client.cookies.set("lang", "en")
    return client, admin


def site_form(**overrides):
    form = {
        "name": "新建加油站",
        "address": "蒸湘区某路",
        "district": "",
        "risk_class": "B",
        "cadence_days": "45",
        "lat": "26.8968",
        "lon": "112.5719",
    }
    form.update(overrides)
    return form


# --- forms ---------------------------------------------------------------------------------------


def test_add_edit_and_deactivate_a_site(admin_client, region, session):
    client, admin = admin_client
    z = region["districts"]["蒸湘区"]
    r = client.post(
        "/admin/sites",
        data=site_form(district=str(z.id)),
        headers=csrf(client),
        follow_redirects=False,
    )
    assert r.status_code == 303
    site = session.exec(select(Site).where(Site.name == "新建加油站")).one()
    assert (site.district_id, site.risk_class, site.cadence_days, site.lat) == (
        z.id,
        "B",
        45,
        26.8968,
    )
    page = client.get(f"/admin/sites/{site.id}")
    assert page.status_code == 200 and "outside" not in page.text and 'id="site-map"' in page.text

    r = client.post(
        f"/admin/sites/{site.id}",
        data=site_form(district=str(z.id), name="改名加油站", cadence_days="30"),
        headers=csrf(client),
        follow_redirects=False,
    )
    assert r.status_code == 303
    client.post(f"/admin/sites/{site.id}/active", data={"active": "false"}, headers=csrf(client))
    session.expire_all()
    site = session.get(Site, site.id)
    assert (site.name, site.cadence_days, site.is_active) == ("改名加油站", 30, False)
    assert "改名加油站" not in client.get("/admin/sites").text
    assert "改名加油站" in client.get("/admin/sites?inactive=true").text
    actions = [
        a.action for a in session.exec(select(AuditLog).where(AuditLog.object_type == "site")).all()
    ]
    assert actions == ["site.add", "site.edit", "site.deactivate"]
    edit = session.exec(select(AuditLog).where(AuditLog.action == "site.edit")).one()
    assert edit.actor_id == admin.id and edit.detail == {"name": "改名加油站", "cadence_days": 30}


def test_a_site_with_inspections_is_deactivated_never_deleted(
    admin_client, region, session, make_user
):
    client, _admin = admin_client
    site = region["sites"][0]
    session.add(
        Inspection(
            client_uuid="x1",
            template_version_id=region["template_version"].id,
            site_id=site.id,
            inspector_id=make_user("inspector").id,
        )
    )
    session.commit()
    page = client.get(f"/admin/sites/{site.id}")
    assert "Inspections of this site: 1." in page.text and "/delete" not in page.text


def test_bad_site_fields_are_shown_and_nothing_is_saved(admin_client, region, session):
    client, _admin = admin_client
    before = site_count(session)
    r = client.post(
        "/admin/sites",
        data=site_form(
            name="", district="999", risk_class="Z", cadence_days="0", lat="26.9", lon=""
        ),
        headers={**csrf(client), "accept": "text/html"},
    )
    assert r.status_code == 422
    for text in (
        "A name of 1 to 200 characters is required.",
        "Unknown district: 999",
        "The risk class is one of A, B, C, D.",
        "The cadence is a whole number of days from 1 to 3650.",
        "Give both latitude and longitude, or neither.",
    ):
        assert text in r.text
    assert site_count(session) == before


def test_a_point_outside_the_district_is_saved_with_a_warning(admin_client, region, session):
    client, _admin = admin_client
    h = region["districts"]["珠晖区"]
    r = client.post(
        "/admin/sites", data=site_form(district=str(h.id)), headers=csrf(client)
    )  # the point is in 蒸湘区
    assert r.status_code == 200
    assert "The location lies outside 珠晖区; check the point." in r.text


def test_search_and_pager(admin_client, region, session):
    client, _admin = admin_client
    z = region["districts"]["蒸湘区"]
    for n in range(55):
        session.add(Site(name=f"批量{n:02d}", district_id=z.id))
    session.commit()
    page = client.get("/admin/sites?q=批量")
    assert "55 sites" in page.text and 'class="pager"' in page.text and "批量49" in page.text
    assert "批量50" in client.get("/admin/sites?q=批量&offset=50").text
    fragment = client.get(f"/admin/sites?q=化工&district={z.id}", headers={"HX-Request": "true"})
    assert (
        fragment.text.lstrip().startswith('<div id="results">') and "蒸湘化工仓库" in fragment.text
    )


def test_another_district_filter_hides_the_others(admin_client, region):
    client, _admin = admin_client
    h = region["districts"]["珠晖区"]
    text = client.get(f"/admin/sites?district={h.id}").text
    assert "珠晖机械厂" in text and "蒸湘超市" not in text


# --- Excel import ------------------------------------------------------------------------------


def test_import_adds_and_updates_and_reports(admin_client, region, session):
    client, admin = admin_client
    rows = [
        [
            "蒸湘超市",
            "新地址",
            "蒸湘区",
            "B",
            60,
            26.9001,
            112.5702,
        ],  # update (name + district match)
        ["珠晖新厂", "", "珠晖区", "A", 30, None, None],  # add
        ["蒸湘新店", "", "蒸湘区", None, None, 26.8984, 112.6150],  # add, point in 珠晖区: warning
    ]
    r = upload(client, "/admin/sites/import", sheet(rows))
    assert r.status_code == 200, r.text[:2000]
    assert (
        "Imported: 2 added, 1 updated." in r.text
        and "Row 4: The location lies outside 蒸湘区" in r.text
    )
    session.expire_all()
    updated = session.exec(select(Site).where(Site.name == "蒸湘超市")).one()
    assert (updated.address, updated.risk_class, updated.cadence_days) == ("新地址", "B", 60)
    added = session.exec(select(Site).where(Site.name == "蒸湘新店")).one()
    assert (added.risk_class, added.cadence_days) == ("C", 30)
    entry = session.exec(select(AuditLog).where(AuditLog.action == "site.import")).one()
    assert entry.actor_id == admin.id and entry.detail == {"added": 2, "updated": 1}


def refused(client, session, data: bytes, status: int, *expected: str):
    before = site_count(session)
    names = sorted(session.exec(select(Site.name)).all())
    r = upload(client, "/admin/sites/import", data)
    assert r.status_code == status, r.text[:2000]
    for text in expected:
        assert text in r.text, (text, r.text[:3000])
    session.expire_all()
    assert site_count(session) == before and sorted(session.exec(select(Site.name)).all()) == names
    return r


def test_every_bad_site_row_is_reported_and_nothing_is_imported(admin_client, region, session):
    client, _admin = admin_client
    rows = [
        ["好的新厂", "", "蒸湘区", "A", 30, None, None],  # row 2 fine, but not imported either
        ["无名区厂", "", "火星区", "A", 30, None, None],  # row 3 unknown district
        [12345, "", "蒸湘区", "A", 30, None, None],  # row 4 number where text belongs
        ["好的新厂", "", "蒸湘区", "B", 30, None, None],  # row 5 duplicate of row 2
        ["坐标错", "", "蒸湘区", "E", "often", 200, 112.5],  # row 6 class, cadence, latitude
        ["=1+1", "", "蒸湘区", "A", 30, None, None],  # row 7 formula
    ]
    refused(
        client,
        session,
        sheet(rows),
        422,
        "Row 3: Unknown district: 火星区",
        "Row 4: name must be text, not 12345.",
        "Row 5: 好的新厂 appears again (first in row 2).",
        "Row 6: The risk class is one of A, B, C, D.",
        "Row 6: cadence must be a number.",
        "Row 6: The latitude or longitude is out of range.",
        "Row 7: name holds a formula",
    )


def test_missing_column_non_xlsx_and_oversized_site_files_are_refused(
    admin_client, region, session
):
    client, _admin = admin_client
    refused(
        client,
        session,
        sheet([["厂", "蒸湘区"]], header=["name", "addr"]),
        422,
        "Row 1: missing column(s): district.",
    )
    refused(client, session, b"\x89PNG\r\n\x1a\n not a sheet", 415, "not an Excel .xlsx file")
    refused(client, session, b"PK" + b"\0" * (5 * 1024 * 1024), 413, "larger than 5 MB")


# --- districts -------------------------------------------------------------------------------------


def test_upload_district_boundaries(admin_client, session):
    client, admin = admin_client  # the region fixture already has two of the twelve
    data = (DATA / "hengyang_districts.geojson").read_bytes()
    r = upload(client, "/admin/districts/import", data, "hengyang.geojson", "application/geo+json")
    assert r.status_code == 200 and "Districts imported: 10 added, 2 updated." in r.text
    assert session.exec(select(func.count()).select_from(District)).one() == 12
    geojson = client.get("/admin/districts.geojson").json()
    assert len(geojson["features"]) == 12
    entry = session.exec(select(AuditLog).where(AuditLog.action == "district.import")).first()
    assert entry.actor_id == admin.id and entry.detail == {"added": 10, "updated": 2}
    r = upload(client, "/admin/districts/import", data, "hengyang.geojson", "application/geo+json")
    assert "0 added, 12 updated." in r.text


def test_overlapping_or_unreadable_districts_change_nothing(admin_client, region, session):
    client, _admin = admin_client
    data = json.loads((DATA / "hengyang_districts.geojson").read_text(encoding="utf-8"))
    first = data["features"][0]
    twin = json.loads(json.dumps(first))
    twin["properties"]["name"] = "重叠区"
    data["features"] = [first, twin]
    r = upload(
        client,
        "/admin/districts/import",
        json.dumps(data).encode(),
        "bad.geojson",
        "application/geo+json",
    )
    assert r.status_code == 422 and "overlap" in r.text
    r = upload(
        client, "/admin/districts/import", b"{not json", "bad.geojson", "application/geo+json"
    )
    assert r.status_code == 422 and "Cannot read the GeoJSON file" in r.text
    assert sorted(session.exec(select(District.name)).all()) == sorted(["蒸湘区", "珠晖区"])
    assert session.exec(select(func.count()).select_from(AuditLog)).one() == 0
