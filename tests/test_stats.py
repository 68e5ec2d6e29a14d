"""District statistics: equal to a recount from raw rows, the four-colour rule, periods,
trends, and the stats API (roles, bad input)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from inspect_app.config import DEFAULT_RISK_RULE, DEFAULT_TIMEZONE
from inspect_app.domain import hazards as hz
from inspect_app.domain import stats
from inspect_app.domain.clock import local_today, start_of_day
from inspect_app.domain.errors import Invalid
from inspect_app.models import Hazard, HazardStatus, Inspection, Site

ZONE = ZoneInfo(DEFAULT_TIMEZONE)
RULE = stats.parse_risk_rule(DEFAULT_RISK_RULE)

TODAY = date(2026, 11, 20)


def at(day: date, hour: int = 10) -> datetime:
    return start_of_day(day, ZONE) + timedelta(hours=hour)


def make_hazard(
    session,
    reporter,
    site,
    grade="general",
    created=None,
    category="",
    deadline=None,
    accepted=None,
):
    h = hz.create_hazard(
        session,
        reporter=reporter,
        site=site,
        grade=grade,
        description="x",
        category=category,
        now=created or at(TODAY - timedelta(days=3)),
    )
    h.deadline = deadline
    if accepted is not None:
        h.status, h.accepted_at = HazardStatus.accepted, accepted
    session.add(h)
    session.commit()
    return h


def inspect_site(session, region, user, site, when):
    session.add(
        Inspection(
            client_uuid=str(uuid.uuid4()),
            template_version_id=region["template_version"].id,
            site_id=site.id,
            inspector_id=user.id,
            status="submitted",
            started_at=when,
            submitted_at=when,
        )
    )
    session.commit()


# --- an independent recount, straight from the definitions ---------------------------------


def empty() -> dict:
    return {
        k: 0 for k in ("open", "closed", "new", "major", "general", "overdue", "due", "on_time")
    }


def recount(session, since, until, today, grade=None, category=None):
    end = start_of_day(until + timedelta(days=1), ZONE)
    day = min(until, today)
    out = {}
    for h in session.exec(select(Hazard)).all():
        if (grade and h.grade != grade) or (category and h.category != category):
            continue
        r = out.setdefault(h.district_id, empty())
        is_open = h.created_at < end and (h.accepted_at is None or h.accepted_at >= end)
        r["open"] += is_open
        r["major"] += is_open and h.grade == "major"
        r["general"] += is_open and h.grade == "general"
        r["overdue"] += is_open and h.deadline is not None and h.deadline < day
        r["new"] += start_of_day(since, ZONE) <= h.created_at < end
        r["closed"] += (
            h.accepted_at is not None and start_of_day(since, ZONE) <= h.accepted_at < end
        )
        if h.deadline and since <= h.deadline <= until and h.deadline < today:
            r["due"] += 1
            r["on_time"] += h.accepted_at is not None and h.accepted_at < start_of_day(
                h.deadline + timedelta(days=1), ZONE
            )
    as_of = start_of_day(day + timedelta(days=1), ZONE)
    for site in session.exec(select(Site).where(Site.is_active.is_(True))).all():
        if site.created_at >= as_of:
            continue
        times = [
            i.submitted_at
            for i in session.exec(select(Inspection).where(Inspection.site_id == site.id)).all()
            if i.submitted_at and i.submitted_at <= as_of
        ]
        r = out.setdefault(site.district_id, empty())
        r["sites"] = r.get("sites", 0) + 1
        r["covered_sites"] = r.get("covered_sites", 0) + bool(
            times and max(times) > as_of - timedelta(days=site.cadence_days)
        )
    return out


def as_counts(row: stats.DistrictStats) -> dict:
    keys = (
        "open",
        "closed",
        "new",
        "major",
        "general",
        "overdue",
        "due",
        "on_time",
        "sites",
        "covered_sites",
    )
    return {k: getattr(row, k) for k in keys}


@pytest.fixture
def history(session, region, make_user):
    """A random history: hazards created over 90 days, planned, some rectified, accepted
    (on time or late), inspections at random times, sites created long ago."""
    rnd = random.Random(5)
    reporter = make_user("inspector")
    sites = region["sites"]
    for site in sites:
        site.created_at = at(TODAY - timedelta(days=400))
        session.add(site)
    session.commit()
    for _ in range(160):
        site = rnd.choice(sites)
        created = at(TODAY - timedelta(days=rnd.randint(0, 90)), rnd.randint(0, 23))
        h = hz.create_hazard(
            session,
            reporter=reporter,
            site=site,
            grade=rnd.choice(["general", "major"]),
            description="random",
            category=rnd.choice(["fire", "electric"]),
            now=created,
        )
        # A random walk along the loop: plan -> rectify -> (reject -> rectify)* -> accept.
        steps = rnd.randint(0, 4)
        when = created
        if steps >= 1:
            h.status = HazardStatus.rectifying
            h.deadline = (when + timedelta(days=rnd.randint(0, 30))).date()
        if steps >= 2:
            when += timedelta(hours=rnd.randint(1, 600))
            h.status, h.rectified_at = HazardStatus.rectified, when
        if steps == 3:
            h.status = HazardStatus.rectifying  # rejected
        if steps == 4:
            when += timedelta(hours=rnd.randint(0, 200))
            h.status, h.accepted_at = HazardStatus.accepted, when
        session.add(h)
        session.commit()
    for _ in range(40):
        inspect_site(
            session,
            region,
            reporter,
            rnd.choice(sites),
            at(TODAY - timedelta(days=rnd.randint(0, 200))),
        )
    return rnd


def test_stats_equal_a_recount_after_random_transitions(session, history):
    for since, until in [
        (TODAY - timedelta(days=6), TODAY),
        (TODAY - timedelta(days=60), TODAY - timedelta(days=30)),
        (TODAY - timedelta(days=90), TODAY + timedelta(days=5)),
        (TODAY, TODAY),
    ]:
        for grade, category in [(None, None), ("major", None), (None, "fire")]:
            expected = recount(session, since, until, TODAY, grade, category)
            rows = stats.district_stats(
                session,
                zone=ZONE,
                rule=RULE,
                since=since,
                until=until,
                today=TODAY,
                grade=grade,
                category=category,
            )
            assert len(rows) == 2
            for row in rows:
                want = expected.get(row.district_id, {})
                assert as_counts(row) == {k: want.get(k, 0) for k in as_counts(row)}, (
                    since,
                    until,
                    grade,
                )
            assert sum(r.open for r in rows) > 0 or since == TODAY


def test_totals_sum_the_rows_and_recompute_rates(session, history):
    rows = stats.district_stats(
        session, zone=ZONE, rule=RULE, since=TODAY - timedelta(days=30), until=TODAY, today=TODAY
    )
    total = stats.city_totals(rows, RULE)
    assert total.district_id is None
    assert total.open == sum(r.open for r in rows) and total.due == sum(r.due for r in rows)
    assert total.rectification_rate == pytest.approx(
        sum(r.on_time for r in rows) / sum(r.due for r in rows)
    )
    assert total.coverage == sum(r.covered_sites for r in rows) / sum(r.sites for r in rows)


def test_one_district_and_unknown_district(session, history, region):
    z = region["districts"]["蒸湘区"]
    rows = stats.district_stats(
        session,
        zone=ZONE,
        rule=RULE,
        since=TODAY - timedelta(days=6),
        until=TODAY,
        district_id=z.id,
        today=TODAY,
    )
    assert [r.name for r in rows] == ["蒸湘区"]
    with pytest.raises(Invalid):
        stats.district_stats(
            session, zone=ZONE, rule=RULE, since=TODAY, until=TODAY, district_id=999999
        )


def test_weekly_series_matches_the_figures_of_each_week(session, history):
    series = stats.weekly_series(session, zone=ZONE, weeks=6, until=TODAY)
    assert len(series) == 6 and series[-1].end == TODAY and series[0].start.weekday() == 0
    for point in series:
        rows = stats.district_stats(
            session, zone=ZONE, rule=RULE, since=point.start, until=point.end, today=TODAY
        )
        assert (point.new, point.closed) == (
            sum(r.new for r in rows),
            sum(r.closed for r in rows),
        ), point.week
        # open at the end of a past week, recounted directly
        assert point.open == sum(
            recount(session, point.start, point.end, TODAY)[d]["open"]
            for d in recount(session, point.start, point.end, TODAY)
        )
    by_district = stats.weekly_series_by_district(session, zone=ZONE, weeks=6, until=TODAY)
    assert sum(p[-1].new for p in by_district.values()) == series[-1].new


# --- the four-colour rule -------------------------------------------------------------------


@pytest.mark.parametrize(
    "major, general, overdue, level",
    [
        (1, 0, 0, "red"),
        (1, 5, 3, "red"),
        (0, 1, 1, "orange"),
        (0, 3, 1, "orange"),
        (0, 1, 0, "yellow"),
        (0, 9, 0, "yellow"),
        (0, 0, 0, "blue"),
    ],
)
def test_four_colour_rule_boundaries(major, general, overdue, level):
    row = stats.DistrictStats(
        1, "x", open=major + general, major=major, general=general, overdue=overdue
    )
    assert stats.risk_level(row, RULE) == level


def test_risk_rule_is_configurable_and_checked():
    rule = stats.parse_risk_rule(
        "red: open_major >= 2; orange: overdue >= 1; yellow: open > 0; blue: otherwise"
    )
    one_major = stats.DistrictStats(1, "x", open=1, major=1)
    assert stats.risk_level(one_major, rule) == "yellow"
    assert stats.risk_level(stats.DistrictStats(1, "x", open=2, major=2), rule) == "red"
    for bad in ["purple: open >= 1", "red: bananas >= 1", "red open >= 1", "", "red: open >= x"]:
        with pytest.raises(Invalid):
            stats.parse_risk_rule(bad)


@pytest.mark.parametrize(
    "since, until",
    [
        (date(2026, 5, 2), date(2026, 5, 1)),  # inverted
        (date(1999, 12, 31), date(2000, 1, 5)),  # before 2000
        (date(2010, 1, 1), date(2026, 1, 1)),  # over ten years
        (date(2026, 1, 1), date(2999, 1, 1)),  # far future
    ],
)
def test_absurd_periods_are_refused(session, region, since, until):
    with pytest.raises(Invalid):
        stats.district_stats(session, zone=ZONE, rule=RULE, since=since, until=until)


def test_overdue_and_rate_on_their_boundaries(session, region, make_user):
    """Deadline today is not overdue; yesterday is. Accepted at 23:59 local on the deadline
    day is on time; at 00:00 the next day it is late."""
    reporter = make_user("inspector")
    site = region["sites"][0]
    d = TODAY - timedelta(days=3)
    make_hazard(session, reporter, site, deadline=TODAY)
    make_hazard(session, reporter, site, deadline=TODAY - timedelta(days=1))
    make_hazard(
        session,
        reporter,
        site,
        created=at(d - timedelta(days=5)),
        deadline=d,
        accepted=start_of_day(d + timedelta(days=1), ZONE) - timedelta(seconds=1),
    )
    make_hazard(
        session,
        reporter,
        site,
        created=at(d - timedelta(days=5)),
        deadline=d,
        accepted=start_of_day(d + timedelta(days=1), ZONE),
    )
    [row] = [
        r
        for r in stats.district_stats(
            session, zone=ZONE, rule=RULE, since=TODAY - timedelta(days=6), until=TODAY, today=TODAY
        )
        if r.district_id == site.district_id
    ]
    assert (row.open, row.overdue, row.closed) == (2, 1, 2)
    assert (row.due, row.on_time, row.rectification_rate) == (3, 1, pytest.approx(1 / 3))
    assert row.risk_level == "orange"


def test_coverage_uses_inspections_up_to_the_period_end(session, region, make_user):
    user = make_user("inspector")
    z = region["districts"]["蒸湘区"]
    a, b = region["sites"][0], region["sites"][1]  # cadence 30 and 90 days
    for s in (a, b):
        s.created_at = datetime(2025, 1, 1, tzinfo=UTC)
        session.add(s)
    session.commit()
    inspect_site(session, region, user, a, at(TODAY - timedelta(days=29)))
    inspect_site(session, region, user, b, at(TODAY - timedelta(days=100)))
    [now] = stats.district_stats(
        session, zone=ZONE, rule=RULE, since=TODAY, until=TODAY, district_id=z.id, today=TODAY
    )
    assert (now.sites, now.covered_sites) == (2, 1)
    [earlier] = stats.district_stats(
        session,
        zone=ZONE,
        rule=RULE,
        since=TODAY - timedelta(days=40),
        until=TODAY - timedelta(days=40),
        district_id=z.id,
        today=TODAY,
    )
    assert (earlier.sites, earlier.covered_sites) == (2, 1)  # only b, inspected 60 days before then


# --- API ----------------------------------------------------------------------------------


def test_stats_api_for_office(api_as, session, history):
    c, _user = api_as("office")
    r = c.get(
        "/api/v1/stats/districts",
        params={"since": str(TODAY - timedelta(days=6)), "until": str(TODAY)},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 2 and len(body["items"]) == 2
    item = body["items"][0]
    for key in (
        "district",
        "open",
        "closed",
        "new",
        "major",
        "general",
        "overdue",
        "rectification_rate",
        "coverage",
        "risk_level",
    ):
        assert key in item
    assert body["totals"]["open"] == sum(i["open"] for i in body["items"])
    assert "red" in body["risk_rule"] and body["definitions"]["open"]


def test_stats_api_officer_sees_only_their_district(api_as, region, history):
    c, user = api_as("officer")
    r = c.get("/api/v1/stats/districts")
    assert r.status_code == 200
    assert [i["district"]["id"] for i in r.json()["items"]] == [user.district_id]
    other = region["districts"]["珠晖区"]
    assert c.get("/api/v1/stats/districts", params={"district": other.id}).status_code == 404


def test_stats_api_refuses_inspectors_and_anonymous(api_as, client, region):
    c, _user = api_as("inspector")
    assert c.get("/api/v1/stats/districts").status_code == 403
    assert client.get("/api/v1/stats/districts").status_code == 401


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-05-02", "until": "2026-05-01"},
        {"since": "1990-01-01", "until": "1990-02-01"},
        {"since": "2001-01-01", "until": "2026-01-01"},
        {"since": "yesterday"},
        {"district": "atlantis"},
        {"grade": "huge"},
    ],
)
def test_stats_api_bad_input_is_422(api_as, region, params):
    c, _user = api_as("office")
    r = c.get("/api/v1/stats/districts", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]


def test_stats_follow_the_real_closed_loop(session, settings, region, make_user):
    """Through hazards.set_plan/rectify/reject/accept (not direct updates): a random walk per
    hazard with past timestamps, then the figures of several periods equal the recount."""
    import io

    from PIL import Image

    from inspect_app.domain import photos

    rnd = random.Random(11)
    officer = make_user("officer")  # 蒸湘区
    reporter = make_user("inspector")
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 120, 0)).save(buf, "JPEG")
    photo = photos.ingest_bytes(session, settings, officer, buf.getvalue())
    today = local_today(ZONE)
    for n in range(30):
        site = region["sites"][n % 2]
        when = at(today - timedelta(days=rnd.randint(5, 40)))
        h = hz.create_hazard(
            session, reporter=reporter, site=site, grade="general", description=f"h{n}", now=when
        )
        session.commit()
        steps = rnd.randint(0, 4)
        if steps >= 1:
            when += timedelta(days=1)
            hz.set_plan(
                session,
                officer,
                h.id,
                responsible_person="甲",
                measures="整改",
                rectifier="乙",
                acceptor="丙",
                deadline=local_today(ZONE, when) + timedelta(days=rnd.randint(0, 10)),
                settings=settings,
                now=when,
            )
        for step in range(2, steps + 1):
            when += timedelta(days=rnd.randint(0, 6), hours=rnd.randint(1, 20))
            if step in (2, 4):
                hz.rectify(session, officer, h.id, note="done", photo_ids=[photo.id], now=when)
            elif rnd.random() < 0.5:
                hz.reject(session, officer, h.id, reason="not yet", now=when)
            else:
                hz.accept(session, officer, h.id, settings=settings, now=when)
                break
    for since, until in [
        (today - timedelta(days=6), today),
        (today - timedelta(days=30), today - timedelta(days=10)),
    ]:
        expected = recount(session, since, until, today)
        [row] = [
            r
            for r in stats.district_stats(session, zone=ZONE, rule=RULE, since=since, until=until)
            if r.district_id == officer.district_id
        ]
        want = expected[officer.district_id]
        assert as_counts(row) == {k: want.get(k, 0) for k in as_counts(row)}
    assert (
        session.exec(select(Hazard).where(Hazard.status == HazardStatus.accepted)).first()
        is not None
    )


def test_on_time_follows_local_days_across_daylight_saving(session, region, make_user):
    """In a zone with daylight saving (Berlin, spring forward on 2026-03-29) each deadline day
    ends at its own local midnight, on SQLite as on PostgreSQL."""
    berlin = ZoneInfo("Europe/Berlin")
    reporter = make_user("inspector")
    site = region["sites"][0]
    for d in (date(2026, 3, 27), date(2026, 3, 29), date(2026, 3, 31)):
        end = start_of_day(d + timedelta(days=1), berlin)
        for accepted in (end - timedelta(seconds=1), end):
            make_hazard(
                session,
                reporter,
                site,
                created=at(d - timedelta(days=3)),
                deadline=d,
                accepted=accepted,
            )
    [row] = [
        r
        for r in stats.district_stats(
            session,
            zone=berlin,
            rule=RULE,
            since=date(2026, 3, 25),
            until=date(2026, 4, 2),
            today=date(2026, 4, 10),
        )
        if r.district_id == site.district_id
    ]
    assert (row.due, row.on_time) == (6, 3)
