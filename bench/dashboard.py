"""Time the district statistics, the dashboard page and the map endpoint against a city made
by bench/city.py, next to a baseline measured in the same run: the same figures by a plain
full-table GROUP BY (which also checks that the numbers agree).

    python bench/dashboard.py --database-url sqlite:///city.db [--repeat 7] [--days 7]

Targets: stats and dashboard < 100 ms; map at city zoom < 150 ms and < 300 KB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient
from sqlalchemy import text

from bench.city import OFFICE_PASSWORD, OFFICE_USER
from inspect_app.config import Settings
from inspect_app.db import session_for
from inspect_app.domain import stats
from inspect_app.domain.clock import local_today, start_of_day
from inspect_app.main import create_app

# The same open/closed/new/major/general/overdue figures, in one pass over every hazard.
BASELINE = """
SELECT district_id,
  SUM(CASE WHEN created_at < :end AND (accepted_at IS NULL OR accepted_at >= :end) THEN 1 ELSE 0 END),
  SUM(CASE WHEN accepted_at >= :start AND accepted_at < :end THEN 1 ELSE 0 END),
  SUM(CASE WHEN created_at >= :start AND created_at < :end THEN 1 ELSE 0 END),
  SUM(CASE WHEN created_at < :end AND (accepted_at IS NULL OR accepted_at >= :end) AND grade = 'major'
      THEN 1 ELSE 0 END),
  SUM(CASE WHEN created_at < :end AND (accepted_at IS NULL OR accepted_at >= :end) AND grade = 'general'
      THEN 1 ELSE 0 END),
  SUM(CASE WHEN created_at < :end AND (accepted_at IS NULL OR accepted_at >= :end) AND deadline < :day
      THEN 1 ELSE 0 END)
FROM hazard GROUP BY district_id
"""


class Timing:
    """Wall times of `repeat` calls (after one warm-up) and this process's CPU time: on a busy
    machine the CPU time (SQLite works in-process; PostgreSQL's server time is not in it)
    shows what the wall time would be without the wait for a core."""

    def __init__(self, fn, repeat: int):
        self.result = fn()
        walls, cpus = [], []
        for _ in range(repeat):
            w, c = time.perf_counter(), time.process_time()
            self.result = fn()
            walls.append((time.perf_counter() - w) * 1000)
            cpus.append((time.process_time() - c) * 1000)
        self.median, self.best, self.cpu = (
            statistics.median(walls),
            min(walls),
            statistics.median(cpus),
        )

    def __str__(self) -> str:
        return f"{self.median:8.1f} ms (best {self.best:6.1f}, cpu {self.cpu:6.1f})"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--database-url", required=True)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--days", type=int, default=7, help="length of the period, ending today")
    args = p.parse_args(argv)

    settings = Settings(
        database_url=args.database_url, env="development", upload_dir=Path("/tmp/bench-uploads")
    )
    app = create_app(settings)
    until = local_today(settings.zone)
    since = until - timedelta(days=args.days - 1)
    period = {"since": since.isoformat(), "until": until.isoformat()}
    db = args.database_url.split("@")[-1]

    with session_for(app.state.engine) as session:
        n = session.exec(text("SELECT count(*) FROM hazard")).one()[0]
        n_open = session.exec(text("SELECT count(*) FROM hazard WHERE accepted_at IS NULL")).one()[
            0
        ]
        params = {
            "start": start_of_day(since, settings.zone),
            "end": start_of_day(until + timedelta(days=1), settings.zone),
            "day": until,
        }
        baseline = Timing(lambda: session.exec(text(BASELINE), params=params).all(), args.repeat)
        calendar = {"zone": settings.zone, "rule": stats.rule_of(settings)}
        ours = Timing(
            lambda: stats.district_stats(session, **calendar, since=since, until=until),
            args.repeat,
        )
        series = Timing(
            lambda: stats.weekly_series_by_district(
                session, zone=settings.zone, weeks=8, until=until
            ),
            args.repeat,
        )
    figures = {
        r.district_id: (r.open, r.closed, r.new, r.major, r.general, r.overdue) for r in ours.result
    }
    recount = {row[0]: tuple(int(v or 0) for v in row[1:]) for row in baseline.result}
    agree = all(figures[d] == recount.get(d, (0,) * 6) for d in figures)

    with TestClient(app) as client:
        token = client.post(
            "/api/v1/auth/token", data={"username": OFFICE_USER, "password": OFFICE_PASSWORD}
        )
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        client.headers["Accept"] = "text/html"
        dashboard = Timing(lambda: client.get("/dashboard", params=period), args.repeat)
        api = Timing(lambda: client.get("/api/v1/stats/districts", params=period), args.repeat)
        layer = Timing(
            lambda: client.get("/api/v1/map/districts.geojson", params=period), args.repeat
        )
        bounds = [
            c
            for f in layer.result.json()["features"]
            for c in _coords(f["geometry"]["coordinates"])
        ]
        bbox = ",".join(
            f"{v:.4f}"
            for v in (
                min(c[0] for c in bounds),
                min(c[1] for c in bounds),
                max(c[0] for c in bounds),
                max(c[1] for c in bounds),
            )
        )
        points = Timing(
            lambda: client.get(
                "/api/v1/map/hazards.geojson", params={"status": "open", "zoom": 9, "bbox": bbox}
            ),
            args.repeat,
        )
    for timing in (dashboard, api, layer, points):
        assert timing.result.status_code == 200, timing.result.text[:500]
    data = points.result.json()

    print(
        f"database: {db}; {n:,} hazards ({n_open:,} open); period {since} .. {until}; median of {args.repeat}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"baseline full-table GROUP BY       {baseline}")
    print(
        f"stats.district_stats               {ours}  {baseline.median / ours.median:5.1f}x faster than the "
        f"baseline; figures agree: {agree}   target < 100 ms"
    )
    print(f"stats.weekly_series_by_district 8w {series}")
    print(
        f"GET /dashboard                     {dashboard}  {len(dashboard.result.content) / 1024:.0f} KB"
        "   target < 100 ms"
    )
    print(f"GET /api/v1/stats/districts        {api}")
    print(
        f"GET /api/v1/map/hazards.geojson    {points}  {len(points.result.content) / 1024:.0f} KB, "
        f"{len(data['features'])} clusters of {data['total']:,} open hazards at zoom 9   target < 150 ms, < 300 KB"
    )
    print(f"GET /api/v1/map/districts.geojson  {layer}  {len(layer.result.content) / 1024:.0f} KB")
    if not agree:
        sys.exit("the statistics disagree with the baseline recount")


def _coords(c):
    if c and isinstance(c[0], (int, float)):
        yield c
    else:
        for part in c:
            yield from _coords(part)


if __name__ == "__main__":
    main()
