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


def timed(fn, repeat: int):
    """Median and best wall time in ms of `repeat` calls (after one warm-up), and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), min(times), result


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--database-url", required=True)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--days", type=int, default=7, help="length of the period, ending today")
    args = p.parse_args(argv)

    settings = Settings(database_url=args.database_url, env="development", upload_dir=Path("/tmp/bench-uploads"))
    app = create_app(settings)
    until = local_today()
    since = until - timedelta(days=args.days - 1)
    period = {"since": since.isoformat(), "until": until.isoformat()}
    db = args.database_url.split("@")[-1]

    with session_for(app.state.engine) as session:
        n = session.exec(text("SELECT count(*) FROM hazard")).one()[0]
        n_open = session.exec(text("SELECT count(*) FROM hazard WHERE accepted_at IS NULL")).one()[0]
        params = {"start": start_of_day(since), "end": start_of_day(until + timedelta(days=1)), "day": until}
        base_med, base_min, base_rows = timed(lambda: session.exec(text(BASELINE), params=params).all(), args.repeat)
        stats_med, stats_min, rows = timed(lambda: stats.district_stats(session, since=since, until=until),
                                           args.repeat)
        series_med, _series_min, _ = timed(lambda: stats.weekly_series_by_district(session, weeks=8, until=until),
                                           args.repeat)
    ours = {r.district_id: (r.open, r.closed, r.new, r.major, r.general, r.overdue) for r in rows}
    theirs = {row[0]: tuple(int(v or 0) for v in row[1:]) for row in base_rows}
    agree = all(ours[d] == theirs.get(d, (0,) * 6) for d in ours)

    with TestClient(app) as client:
        token = client.post("/api/v1/auth/token", data={"username": OFFICE_USER, "password": OFFICE_PASSWORD})
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        client.headers["Accept"] = "text/html"
        dash_med, dash_min, page = timed(lambda: client.get("/dashboard", params=period), args.repeat)
        assert page.status_code == 200, page.text[:500]
        api_med, _api_min, api = timed(lambda: client.get("/api/v1/stats/districts", params=period), args.repeat)
        assert api.status_code == 200, api.text[:500]
        layer = client.get("/api/v1/map/districts.geojson", params=period)
        bounds = [c for f in layer.json()["features"] for c in _coords(f["geometry"]["coordinates"])]
        bbox = ",".join(f"{v:.4f}" for v in (min(c[0] for c in bounds), min(c[1] for c in bounds),
                                              max(c[0] for c in bounds), max(c[1] for c in bounds)))
        map_params = {"status": "open", "zoom": 9, "bbox": bbox}
        map_med, map_min, resp = timed(lambda: client.get("/api/v1/map/hazards.geojson", params=map_params),
                                       args.repeat)
        assert resp.status_code == 200, resp.text[:500]
        data = resp.json()
        layer_med, _layer_min, layer = timed(lambda: client.get("/api/v1/map/districts.geojson", params=period),
                                             args.repeat)

    print(f"database: {db}; {n:,} hazards ({n_open:,} open); period {since} .. {until}; median of {args.repeat}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"baseline full-table GROUP BY      {base_med:8.1f} ms (best {base_min:.1f})")
    print(f"stats.district_stats              {stats_med:8.1f} ms (best {stats_min:.1f})  "
          f"{base_med / stats_med:5.1f}x faster than baseline; figures agree: {agree}")
    print(f"stats.weekly_series_by_district 8w {series_med:7.1f} ms")
    print(f"GET /api/v1/stats/districts       {api_med:8.1f} ms")
    print(f"GET /dashboard                    {dash_med:8.1f} ms (best {dash_min:.1f})  "
          f"{len(page.content) / 1024:.0f} KB  target < 100 ms")
    print(f"GET /api/v1/map/hazards.geojson   {map_med:8.1f} ms (best {map_min:.1f})  "
          f"{len(resp.content) / 1024:.0f} KB, {len(data['features'])} clusters of {data['total']:,} open hazards "
          f"at zoom 9  target < 150 ms, < 300 KB")
    print(f"GET /api/v1/map/districts.geojson {layer_med:8.1f} ms  {len(layer.content) / 1024:.0f} KB")
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
