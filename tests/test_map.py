"""The map API: server-side clustering by zoom and bounding box, the hazard-list filters,
popup data, the four-colour district layer, GCJ-02 display coordinates, bad input."""

from __future__ import annotations

import random

import pytest

from inspect_app.domain import geo
from inspect_app.domain import hazards as hz
from inspect_app.models import HazardPhoto, HazardStatus, Photo

URL = "/api/v1/map/hazards.geojson"
CITY = "112.3,26.7,112.9,27.1"  # around both test districts


@pytest.fixture
def many(session, region, make_user):
    """250 hazards scattered around the two districts' sites (every fifth major, one with a photo)."""
    rnd = random.Random(7)
    reporter = make_user("inspector")
    made = []
    for n in range(250):
        site = region["sites"][n % 3]
        made.append(
            hz.create_hazard(
                session,
                reporter=reporter,
                site=site,
                grade="major" if n % 5 == 0 else "general",
                description=f"hazard {n}",
                lat=site.lat + rnd.uniform(-0.01, 0.01),
                lon=site.lon + rnd.uniform(-0.01, 0.01),
            )
        )
    session.commit()
    photo = Photo(
        sha256="0" * 64,
        uploaded_by=reporter.id,
        width=4,
        height=3,
        original_format="JPEG",
        original_bytes=10,
    )
    session.add(photo)
    session.flush()
    session.add(HazardPhoto(hazard_id=made[0].id, photo_id=photo.id, kind="finding", position=0))
    made[1].status = HazardStatus.accepted
    session.add(made[1])
    session.commit()
    return made, photo


def test_low_zoom_returns_clusters_that_add_up(api_as, many):
    c, _user = api_as("office")
    r = c.get(URL, params={"zoom": 9, "bbox": CITY})
    assert r.status_code == 200
    data = r.json()
    assert data["clustered"] is True and data["total"] == 250
    assert all(f["properties"]["cluster"] for f in data["features"])
    assert sum(f["properties"]["count"] for f in data["features"]) == 250
    assert sum(f["properties"]["major"] for f in data["features"]) == 50
    assert len(data["features"]) < 20


def test_high_zoom_or_few_hazards_returns_points_with_popup_data(api_as, many):
    made, photo = many
    c, _user = api_as("office")
    first = made[0]
    box = f"{first.lon - 0.002},{first.lat - 0.002},{first.lon + 0.002},{first.lat + 0.002}"
    data = c.get(URL, params={"zoom": 16, "bbox": box}).json()
    assert data["clustered"] is False and 1 <= data["total"] < 200
    point = next(f for f in data["features"] if f["properties"]["id"] == first.id)
    p = point["properties"]
    assert p["thumb_url"] == f"/photos/{photo.id}/thumb" and p["url"] == f"/hazards/{first.id}"
    assert p["grade"] == "major" and p["site"] == "蒸湘化工仓库" and p["status"] == "reported"
    assert point["geometry"]["coordinates"] == [round(first.lon, 5), round(first.lat, 5)]


def test_filters_apply_to_the_map(api_as, many):
    c, _user = api_as("office")
    majors = c.get(URL, params={"zoom": 9, "bbox": CITY, "grade": "major"}).json()
    assert majors["total"] == 50 and majors["clustered"] is False  # few enough: points
    assert {f["properties"]["grade"] for f in majors["features"]} == {"major"}
    assert c.get(URL, params={"zoom": 9, "status": "open"}).json()["total"] == 249
    assert c.get(URL, params={"zoom": 9, "status": "accepted"}).json()["total"] == 1


def test_bbox_excludes_what_is_outside(api_as, many, region):
    c, _user = api_as("office")
    east = region["sites"][2]  # 珠晖机械厂, far east of the others
    box = f"{east.lon - 0.012},{east.lat - 0.012},{east.lon + 0.012},{east.lat + 0.012}"
    data = c.get(URL, params={"zoom": 12, "bbox": box}).json()
    assert data["total"] == 83  # n % 3 == 2 for n < 250
    assert c.get(URL, params={"zoom": 12, "bbox": "10,10,11,11"}).json()["total"] == 0


def test_officer_sees_only_their_district_on_the_map(api_as, many, region):
    c, _user = api_as("officer")
    data = c.get(URL, params={"zoom": 9, "bbox": CITY}).json()
    assert data["total"] == 167  # the two 蒸湘区 sites
    layer = c.get("/api/v1/map/districts.geojson").json()
    assert [f["properties"]["name"] for f in layer["features"]] == ["蒸湘区"]


def test_inspectors_get_403(api_as, region):
    c, _user = api_as("inspector")
    assert c.get(URL).status_code == 403
    assert c.get("/api/v1/map/districts.geojson").status_code == 403


@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "1,2,3"},
        {"bbox": "a,b,c,d"},
        {"bbox": "113,27,112,26"},
        {"bbox": "0,0,200,10"},
        {"bbox": "nan,0,1,1"},
        {"zoom": 40},
        {"zoom": -1},
        {"zoom": "far"},
        {"grade": "huge"},
        {"district": "atlantis"},
    ],
)
def test_malformed_map_input_is_422(api_as, region, params):
    c, _user = api_as("office")
    r = c.get(URL, params=params)
    assert r.status_code == 422, params
    assert r.json()["detail"]


def test_district_layer_carries_the_four_colour_level(api_as, many):
    c, _user = api_as("office")
    layer = c.get("/api/v1/map/districts.geojson").json()
    assert len(layer["features"]) == 2
    for f in layer["features"]:
        assert f["properties"]["risk_level"] == "red"  # both have open major hazards
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert (
        c.get(
            "/api/v1/map/districts.geojson", params={"since": "2026-02-01", "until": "2026-01-01"}
        ).status_code
        == 422
    )


def test_wgs84_to_gcj02_matches_the_reference_transform():
    lat, lon = geo.wgs84_to_gcj02(39.915, 116.404)  # the reference point of the public algorithm
    assert lat == pytest.approx(39.91640428150164, abs=1e-9)
    assert lon == pytest.approx(116.41024449916938, abs=1e-9)
    assert geo.wgs84_to_gcj02(48.8584, 2.2945) == (48.8584, 2.2945)  # outside China: unchanged
    back = geo.gcj02_to_wgs84(lat, lon)
    assert back == pytest.approx((39.915, 116.404), abs=1e-6)


def test_gcj02_setting_converts_for_display_only(app, api_as, many):
    made, _photo = many
    app.state.settings = app.state.settings.model_copy(update={"tile_crs": "gcj02"})
    c, _user = api_as("office")
    first = made[0]
    glat, glon = geo.wgs84_to_gcj02(first.lat, first.lon)
    box = (
        f"{glon - 0.002},{glat - 0.002},{glon + 0.002},{glat + 0.002}"  # a box drawn on the GCJ map
    )
    data = c.get(URL, params={"zoom": 16, "bbox": box}).json()
    point = next(f for f in data["features"] if f["properties"]["id"] == first.id)
    assert point["geometry"]["coordinates"] == [round(glon, 5), round(glat, 5)]
    assert (
        c.get(f"/api/v1/hazards/{first.id}").json()["location"]["lat"] == first.lat
    )  # stored WGS-84
