"""The read API of the contract, with every role, and its refusals."""

import pytest

ROLES = ["inspector", "officer", "office", "admin"]


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_openapi_documents_the_contract(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in [
        "/api/v1/auth/token",
        "/api/v1/districts",
        "/api/v1/sites",
        "/api/v1/templates",
        "/api/v1/templates/{template_id}",
        "/api/v1/hazards",
        "/api/v1/hazards/{hazard_id}",
    ]:
        assert path in paths
    assert client.get("/docs").status_code == 200
    # Downloads say what they send; pages and the report form's redirect are not API.
    documented = {
        path: next(iter(ops["get"]["responses"]["200"].get("content", {"-": 0})))
        for path, ops in paths.items()
        if not path.startswith("/api/") and "get" in ops
    }
    assert (
        documented["/photos/{photo_id}"] == documented["/photos/{photo_id}/thumb"] == "image/jpeg"
    )
    assert documented["/reports/weekly/{week}.pdf"] == "application/pdf"
    assert documented["/exports/hazards.csv"] == "text/csv"
    assert "/reports" not in documented and "/reports/weekly" not in documented


@pytest.mark.parametrize("role", ROLES)
def test_districts_for_every_role(api_as, role):
    c, _ = api_as(role)
    body = c.get("/api/v1/districts").json()
    assert body["total"] == 2
    assert {d["name"] for d in body["items"]} == {"蒸湘区", "珠晖区"}
    assert all(d["centroid"]["lat"] > 26 for d in body["items"])


@pytest.mark.parametrize(
    "role,expected", [("inspector", 2), ("officer", 2), ("office", 3), ("admin", 3)]
)
def test_sites_are_scoped_to_the_users_district(api_as, role, expected):
    c, _ = api_as(role)
    body = c.get("/api/v1/sites").json()
    assert body["total"] == expected
    if role in ("inspector", "officer"):
        assert {s["district"] for s in body["items"]} == {"蒸湘区"}


def test_sites_filter_by_district_name_or_id(api_as, region):
    c, _ = api_as("office")
    assert c.get("/api/v1/sites", params={"district": "珠晖区"}).json()["total"] == 1
    zid = region["districts"]["蒸湘区"].id
    assert c.get("/api/v1/sites", params={"district": zid}).json()["total"] == 2


def test_sites_unknown_district_is_422(api_as):
    c, _ = api_as("office")
    r = c.get("/api/v1/sites", params={"district": "火星区"})
    assert r.status_code == 422 and "火星区" in r.json()["detail"]


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "many"}]
)
def test_pagination_bounds_are_422(api_as, params):
    c, _ = api_as("office")
    r = c.get("/api/v1/sites", params=params)
    assert r.status_code == 422 and r.json()["detail"]


def test_pagination_limit_and_offset(api_as):
    c, _ = api_as("office")
    first = c.get("/api/v1/sites", params={"limit": 2}).json()
    rest = c.get("/api/v1/sites", params={"limit": 2, "offset": 2}).json()
    assert first["total"] == rest["total"] == 3
    assert len(first["items"]) == 2 and len(rest["items"]) == 1
    assert {s["id"] for s in first["items"]}.isdisjoint({s["id"] for s in rest["items"]})


@pytest.mark.parametrize("role", ROLES)
def test_templates_with_sections_and_items(api_as, role, region):
    c, _ = api_as(role)
    listing = c.get("/api/v1/templates").json()
    assert listing["total"] == 1
    detail = c.get(f"/api/v1/templates/{listing['items'][0]['id']}").json()
    assert len(detail["sections"]) == 7
    items = [i for s in detail["sections"] for i in s["items"]]
    assert len(items) == 27
    e4 = next(i for i in items if i["key"] == "E4")
    assert e4["response_type"] == "number" and e4["max_value"] == 4 and e4["unit"] == "Ω"
    f2 = next(i for i in items if i["key"] == "F2")
    assert f2["default_grade"] == "major" and f2["photo_required_on_fail"] is True


def test_unknown_template_is_404(api_as):
    c, _ = api_as("office")
    assert c.get("/api/v1/templates/9999").status_code == 404
    assert c.get("/api/v1/templates/abc").status_code == 422


@pytest.mark.parametrize("role", ROLES)
def test_hazard_list_shape_for_every_role(api_as, role):
    c, _ = api_as(role)
    body = c.get("/api/v1/hazards").json()
    assert body == {"items": [], "total": 0}


@pytest.mark.parametrize(
    "params",
    [
        {"status": "lost"},
        {"grade": "tiny"},
        {"overdue": "perhaps"},
        {"since": "yesterday"},
        {"since": "2026-05-01", "until": "2026-04-01"},
        {"district": "火星区"},
    ],
)
def test_hazard_filters_malformed_are_422(api_as, params):
    c, _ = api_as("office")
    r = c.get("/api/v1/hazards", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]


def test_unknown_hazard_is_404(api_as):
    c, _ = api_as("office")
    assert c.get("/api/v1/hazards/12345").status_code == 404
