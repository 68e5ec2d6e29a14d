"""The dashboard, map and coverage pages: roles, figures, sorting, links, bad input."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest

from inspect_app.config import DEFAULT_RISK_RULE, DEFAULT_TIMEZONE
from inspect_app.domain import hazards as hz
from inspect_app.domain import stats
from inspect_app.domain.clock import local_today, start_of_day
from inspect_app.filters import StatsQuery
from inspect_app.models import HazardStatus
from inspect_app.web.assets import asset_url
from inspect_app.web.dashboard import hazard_links

ZONE = ZoneInfo(DEFAULT_TIMEZONE)
RULE = stats.parse_risk_rule(DEFAULT_RISK_RULE)

TODAY = local_today(ZONE)


@pytest.fixture
def open_hazards(session, region, make_user):
    """蒸湘区: one major (red); 珠晖区: one general, overdue (orange)."""
    reporter = make_user("inspector")
    z_site, _, h_site = region["sites"]
    when = start_of_day(TODAY - timedelta(days=2), ZONE) + timedelta(hours=9)
    major = hz.create_hazard(
        session, reporter=reporter, site=z_site, grade="major", description="leak", now=when
    )
    general = hz.create_hazard(
        session, reporter=reporter, site=h_site, grade="general", description="exit", now=when
    )
    general.status, general.deadline = HazardStatus.rectifying, TODAY - timedelta(days=1)
    session.add(general)
    session.commit()
    return major, general


def rows_of(html: str) -> list[str]:
    """District names in table order."""
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    return re.findall(r'<th scope="row">([^<]+)</th>', body)


def test_dashboard_shows_each_district_with_its_level_and_links(login_as, open_hazards, region):
    c, _user = login_as("office")
    r = c.get("/dashboard")
    assert r.status_code == 200
    html = r.text
    assert sorted(rows_of(html)) == sorted(["蒸湘区", "珠晖区"])
    assert "risk-red" in html and "risk-orange" in html
    z = region["districts"]["蒸湘区"]
    assert f"/hazards?district={z.id}&amp;status=open&amp;until={TODAY.isoformat()}" in html
    h = region["districts"]["珠晖区"]
    assert f"/hazards?district={h.id}&amp;status=open&amp;overdue=true" in html
    assert '<svg class="spark"' in html and "<polyline" in html  # server-rendered trends
    assert "open_major &gt;= 1" in html  # the rule is shown
    assert "<script>" not in html


def test_dashboard_sorts_without_javascript(login_as, open_hazards):
    c, _user = login_as("office")
    by_overdue = rows_of(c.get("/dashboard", params={"sort": "overdue", "dir": "desc"}).text)
    assert by_overdue[0] == "珠晖区"
    by_major = rows_of(c.get("/dashboard", params={"sort": "major", "dir": "desc"}).text)
    assert by_major[0] == "蒸湘区"
    by_risk = rows_of(c.get("/dashboard", params={"sort": "risk_level", "dir": "desc"}).text)
    assert by_risk == ["蒸湘区", "珠晖区"]  # red before orange
    assert c.get("/dashboard", params={"sort": "password_hash"}).status_code == 422


def test_dashboard_filters_by_grade(login_as, open_hazards):
    c, _user = login_as("office")
    html = c.get("/dashboard", params={"grade": "general"}).text
    assert "risk-red" not in html.split("<tbody>")[1].split("</tbody>")[0]
    assert 'value="general" selected' in html


def test_officer_sees_only_their_district(login_as, open_hazards, region):
    c, _user = login_as("officer")
    assert rows_of(c.get("/dashboard").text) == ["蒸湘区"]
    other = region["districts"]["珠晖区"]
    assert c.get("/dashboard", params={"district": other.id}).status_code == 404
    cov = c.get("/coverage")
    assert cov.status_code == 200 and "蒸湘区" in cov.text and "珠晖区" not in cov.text
    assert c.get("/coverage", params={"district": other.name}).status_code == 404
    assert c.get("/map").status_code == 200


@pytest.mark.parametrize("path", ["/dashboard", "/map", "/coverage"])
def test_inspectors_are_refused_and_strangers_sent_to_sign_in(login_as, client, region, path):
    c, _user = login_as("inspector")
    assert c.get(path).status_code == 403
    r = client.get(path, headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-05-02", "until": "2026-05-01"},
        {"since": "1980-01-01", "until": "1980-01-02"},
        {"until": "not-a-date"},
        {"district": "atlantis"},
    ],
)
def test_bad_period_or_district_is_422_page(login_as, region, params):
    c, _user = login_as("office")
    for path in ("/dashboard", "/map"):
        r = c.get(path, params=params, headers={"accept": "text/html"})
        assert r.status_code == 422, (path, params)
        assert "<html" in r.text


def test_map_page_passes_its_urls_in_data_attributes(login_as, region):
    c, _user = login_as("office")
    html = c.get(
        "/map", params={"grade": "major", "since": "2026-01-01", "until": "2026-01-31"}
    ).text
    assert (
        'data-districts-url="/api/v1/map/districts.geojson?since=2026-01-01&amp;until=2026-01-31"'
        in html
    )
    assert 'data-hazards-url="/api/v1/map/hazards.geojson?status=open&amp;grade=major"' in html
    assert asset_url("map.js") in html and "leaflet" in html
    assert "<script>" not in html  # no inline scripts (CSP)


def test_coverage_lists_sites_overdue_for_inspection(login_as, region, session):
    c, _user = login_as("office")
    html = c.get("/coverage").text
    for site in region["sites"]:  # never inspected: all overdue
        assert site.name in html
    assert "0%" in html


def test_figure_links_select_the_same_hazards_as_the_figure(login_as, open_hazards, session):
    """Following a figure's link to the hazard list gives as many hazards as the figure says
    (for the current period, where 'open at the end' is 'open now')."""
    c, _user = login_as("office")
    since, until = stats.resolve_period(None, None, local_today(ZONE))
    period = StatsQuery(since=since, until=until, zone=ZONE, rule=RULE)
    for row in stats.district_stats(session, zone=ZONE, rule=RULE, since=since, until=until):
        links = hazard_links(row, period)
        for figure in ("open", "major", "general", "overdue", "new"):
            params = dict(parse_qsl(urlsplit(links[figure]).query))
            listed = c.get("/api/v1/hazards", params=params).json()["total"]
            assert listed == getattr(row, figure), (row.name, figure, params)


def test_htmx_gets_only_the_figures_block(login_as, open_hazards):
    c, _user = login_as("office")
    r = c.get("/dashboard", params={"sort": "open", "dir": "desc"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text and 'id="stats"' in r.text
    assert "risk-red" in r.text and "HX-Request" in r.headers["vary"]
