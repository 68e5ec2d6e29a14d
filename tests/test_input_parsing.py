"""Input parsing (#12): ids, integers and dates are parsed strictly by one parser
(domain/parsing.py, pydantic/FastAPI types, and the hazard filter object of filters.py).

The class: `str.isdigit()` accepts '¹', '²' or '٣', which `int()` refuses (or reads as another
digit), and dates at the calendar's edge overflow (until=9999-12-31 gave 500; since=0001-01-01
cut the CSV export off mid-body). Every GET route of the app is called with every query
parameter (and every path parameter) set to each bad value; nothing may answer 5xx or break
off a body, and the JSON API answers a 4xx with a JSON detail. The form fields that carried
the class (version, photo_ids, items, photo-N, the signature's photo_id) are posted too.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import select

from inspect_app.domain.errors import Invalid
from inspect_app.domain.parsing import MAX_DATE, MIN_DATE, parse_date, parse_id, parse_int
from inspect_app.models import AnswerPhoto, Hazard, Inspection
from tests.factories import build_world
from tests.make_bad_files import BAD_DATES, BAD_NUMBERS

BAD = BAD_NUMBERS + BAD_DATES
IGNORED_PREFIXES = ("/static", "/docs", "/openapi.json", "/redoc", "/logout", "/lang")


@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_the_parser_refuses_what_int_would_misread(value):
    with pytest.raises(Invalid):
        parse_id(value, "id")


@pytest.mark.parametrize("value", BAD_DATES)
def test_the_parser_refuses_dates_outside_the_calendar_it_can_convert(value):
    with pytest.raises(Invalid):
        parse_date(value, "day")


def test_the_parser_reads_plain_values():
    assert parse_id(" 42 ", "id") == 42
    assert parse_int("-3", "n") == -3
    assert parse_id("", "id") is None
    assert parse_date("2026-11-30", "day").isoformat() == "2026-11-30"
    assert parse_date(MIN_DATE.isoformat(), "day") == MIN_DATE
    assert parse_date(MAX_DATE.isoformat(), "day") == MAX_DATE
    with pytest.raises(Invalid):
        parse_id("0", "id")
    with pytest.raises(Invalid):
        parse_int(True, "n")


def _get_routes(app):
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or "GET" not in route.methods:
            continue
        if route.path.startswith(IGNORED_PREFIXES):
            continue
        query, path = set(), set()
        stack = [route.dependant]
        while stack:  # the route's own parameters and those of its dependencies
            dependant = stack.pop()
            query.update(p.alias for p in dependant.query_params)
            path.update(p.alias for p in dependant.path_params)
            stack.extend(dependant.dependencies)
        yield route.path, sorted(query), sorted(path)


def _problem(url: str, response) -> str | None:
    if response.status_code >= 500:
        return f"{url}: {response.status_code} {response.text[:200]}"
    if url.startswith("/api/") and 400 <= response.status_code < 500:
        if "json" not in response.headers.get("content-type", "") or "detail" not in (
            response.json() or {}
        ):
            return f"{url}: {response.status_code} without a JSON detail"
    return None


def test_no_get_route_fails_on_bad_numbers_or_dates(app, session, settings, region):
    world = build_world(session, settings, region)
    ids = {**world["ids"]}
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {world['tokens']['admin']}"
    problems, calls = [], 0
    for path, query, path_params in _get_routes(app):
        url = path.format(**ids)
        for name in query:
            for value in BAD:
                response = client.get(url, params={name: value})
                calls += 1
                problems.append(_problem(f"{url}?{name}={value}", response))
        for name in path_params:
            for value in BAD_NUMBERS:
                bad_url = path.format(**{**ids, name: value})
                calls += 1
                problems.append(_problem(bad_url, client.get(bad_url)))
    problems = [p for p in problems if p]
    assert calls > 200
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "url",
    [
        "/hazards",
        "/api/v1/hazards",
        "/api/v1/map/hazards.geojson",
        "/exports/hazards.xlsx",
        "/exports/hazards.csv",
        "/api/v1/stats/districts",
    ],
)
@pytest.mark.parametrize("params", [{"until": "9999-12-31"}, {"since": "0001-01-01"}])
def test_dates_at_the_edge_are_422(api_as, region, url, params):
    client, _user = api_as("office")
    response = client.get(url, params=params)
    assert response.status_code == 422, response.text[:300]
    assert "detail" in response.json()


def test_the_hazard_page_takes_a_district_by_name_or_id(api_as, region):
    client, _user = api_as("office")
    district = region["districts"]["珠晖区"]
    by_name = client.get("/hazards", params={"district": "珠晖区"})
    by_id = client.get("/hazards", params={"district": str(district.id)})
    assert by_name.status_code == by_id.status_code == 200
    selected = f'<option value="{district.id}" selected'
    assert selected in by_name.text and selected in by_id.text
    assert client.get("/hazards", params={"district": "¹"}).status_code == 422
    assert client.get("/hazards", params={"district": "无此区"}).status_code == 422


def _form_client(app, world, role: str) -> TestClient:
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {world['tokens'][role]}"
    return client


@pytest.mark.parametrize("value", ["¹", "²", "99999999999999999999"])
def test_bad_numbers_in_form_fields_are_refused_and_change_nothing(
    app, session, settings, region, value
):
    world = build_world(session, settings, region)
    officer = _form_client(app, world, "officer")
    inspector = _form_client(app, world, "inspector")
    hazard = world["hazard"]
    before = session.get(Hazard, hazard.id).version

    plan = officer.post(f"/hazards/{hazard.id}/plan", data={"version": value})
    assert plan.status_code == 422, plan.text[:300]
    rectify = officer.post(f"/hazards/{hazard.id}/rectify", data={"photo_ids": value})
    assert rectify.status_code < 500, rectify.text[:300]
    session.expire_all()
    assert session.get(Hazard, hazard.id).version == before

    draft, item = world["draft"], world["item"]
    section = world["ids"]["key"]
    links = len(session.exec(select(AnswerPhoto)).all())
    saved = inspector.post(
        f"/inspections/{draft.id}/sections/{section}",
        data={"items": value, f"result-{item.id}": "pass"},
    )
    assert saved.status_code == 422, saved.text[:300]
    photo = inspector.post(
        f"/inspections/{draft.id}/sections/{section}",
        data={"items": str(item.id), f"result-{item.id}": "pass", f"photo-{item.id}": value},
    )
    assert photo.status_code == 422, photo.text[:300]
    signature = inspector.post(f"/inspections/{draft.id}/signature", data={"photo_id": value})
    assert signature.status_code == 422, signature.text[:300]
    session.expire_all()
    assert session.get(Inspection, draft.id).signature_photo_id is None
    assert len(session.exec(select(AnswerPhoto)).all()) == links


def test_no_code_reads_numbers_with_a_bare_isdigit():
    """The class, not the samples: `isdigit()` alone lets '²' through to int(). Numbers from
    requests go through domain/parsing.py; a check of a header may pair it with isascii()."""
    import io
    import tokenize
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "inspect_app"
    bare = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):  # code, not prose
            if tok.type == tokenize.NAME and tok.string in ("isdigit", "isdecimal", "isnumeric"):
                line = lines[tok.start[0] - 1]
                if ".isascii()" not in line:
                    bare.append(f"{path.relative_to(root)}:{tok.start[0]}: {line.strip()}")
    assert not bare, "\n".join(bare)
