"""Generate a synthetic city into a database, for bench/dashboard.py.

    python bench/city.py --database-url sqlite:///city.db                 # 1,000,000 hazards
    python bench/city.py --database-url postgresql://postgres@127.0.0.1:5432/city --hazards 100000

Districts are the reference boundaries (inspect_app/data); sites are random points inside
them; every site is inspected about once per cadence for `years` (some fall behind lately);
hazards follow the closed loop (plan within days, accepted within weeks, a small share left
open and overdue). Rows go in by bulk insert: executemany on SQLite, COPY on PostgreSQL.
Hazard events and photos are not generated: the statistics and the map do not read them.
An office user `bench-office` (password `bench-office-password`) is created for the pages.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shapely.geometry import Point, shape
from sqlalchemy import text
from sqlmodel import select

from inspect_app.config import Settings
from inspect_app.db import make_engine, session_for, upgrade
from inspect_app.domain import accounts, checklists, geo
from inspect_app.domain.clock import local_today
from inspect_app.models import District, Hazard, User

DATA = Path(__file__).resolve().parents[1] / "inspect_app" / "data"
OFFICE_USER, OFFICE_PASSWORD = "bench-office", "bench-office-password"
CADENCE = {"A": 30, "B": 60, "C": 90, "D": 180}
CATEGORIES = [
    "安全生产责任",
    "消防安全",
    "电气安全",
    "危险化学品",
    "特种设备",
    "有限空间",
    "应急管理",
]
BATCH = 50_000


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--database-url", required=True)
    p.add_argument("--hazards", type=int, default=1_000_000)
    p.add_argument("--sites", type=int, default=2000)
    p.add_argument("--years", type=float, default=5)
    p.add_argument(
        "--stale-share",
        type=float,
        default=0.004,
        help="share of hazards never accepted (they stay open and become overdue)",
    )
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args(argv)


class Writer:
    """Bulk inserts through the DB-API connection: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, engine):
        self.raw = engine.raw_connection()
        self.pg = engine.dialect.name == "postgresql"
        if not self.pg:
            cur = self.raw.cursor()
            cur.execute("PRAGMA synchronous=OFF")
            cur.close()

    @staticmethod
    def _sqlite_value(v):
        if isinstance(v, datetime):
            return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores it
        return v.isoformat() if hasattr(v, "isoformat") else v

    def write(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        cur = self.raw.cursor()
        if self.pg:
            with cur.copy(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            cur.executemany(
                f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({marks})',
                [tuple(self._sqlite_value(v) for v in row) for row in rows],
            )
        cur.close()
        self.raw.commit()

    def close(self) -> None:
        self.raw.close()


def random_point_in(geom, rnd: random.Random) -> tuple[float, float]:
    minx, miny, maxx, maxy = geom.bounds
    while True:
        lon, lat = rnd.uniform(minx, maxx), rnd.uniform(miny, maxy)
        if geom.contains(Point(lon, lat)):
            return round(lat, 6), round(lon, 6)


def main(argv=None) -> None:
    args = parse_args(argv)
    rnd = random.Random(args.seed)
    began = time.monotonic()
    settings = Settings(
        database_url=args.database_url, env="development", upload_dir=Path("/tmp/bench-uploads")
    )
    upgrade(args.database_url)
    engine = make_engine(settings)
    now = datetime.now(UTC)
    first = now - timedelta(days=365 * args.years)

    with session_for(engine) as session:
        if session.exec(select(Hazard.id).limit(1)).first() is not None:
            sys.exit(f"{args.database_url} already holds hazards; use an empty database.")
        geo.import_districts(
            session, json.loads((DATA / "hengyang_districts.geojson").read_text(encoding="utf-8"))
        )
        version = checklists.import_yaml_file(session, DATA / "routine-checklist.yaml")
        districts = session.exec(select(District).order_by(District.code)).all()
        if session.exec(select(User).where(User.username == OFFICE_USER)).first() is None:
            accounts.create_user(session, OFFICE_USER, OFFICE_PASSWORD, "office", None)
        inspectors = [
            accounts.create_user(
                session, f"bench-inspector-{d.code}", OFFICE_PASSWORD, "inspector", d.name
            )
            for d in districts
        ]
        shapes = {d.id: shape(d.boundary) for d in districts}
        version_id = version.id
    print(f"districts: {len(districts)}; template version {version_id}", flush=True)

    writer = Writer(engine)
    # Sites, spread over the districts by area.
    areas = [shapes[d.id].area for d in districts]
    site_rows = []
    for n in range(args.sites):
        d = rnd.choices(districts, weights=areas)[0]
        lat, lon = random_point_in(shapes[d.id], rnd)
        risk = rnd.choices("ABCD", weights=[1, 2, 4, 3])[0]
        site_rows.append(
            (
                f"单位{n + 1:05d}",
                f"{d.name}第{n + 1}号",
                d.id,
                risk,
                CADENCE[risk],
                lat,
                lon,
                True,
                first - timedelta(days=30),
                None,
            )
        )
    writer.write(
        "site",
        [
            "name",
            "address",
            "district_id",
            "risk_class",
            "cadence_days",
            "lat",
            "lon",
            "is_active",
            "created_at",
            "last_inspected_at",
        ],
        site_rows,
    )
    with session_for(engine) as session:
        sites = session.exec(
            text("SELECT id, district_id, cadence_days, lat, lon FROM site ORDER BY id")
        ).all()
    inspector_of = {u.district_id: u.id for u in inspectors}
    print(f"sites: {len(sites)}", flush=True)

    # Inspections: about once per cadence; one site in five has fallen behind over the last months.
    rows, n_inspections = [], 0
    for site_id, district_id, cadence, _lat, _lon in sites:
        behind = timedelta(days=rnd.randint(0, 200)) if rnd.random() < 0.2 else timedelta(0)
        t = first + timedelta(days=rnd.uniform(0, cadence))
        while t < now - behind:
            rows.append(
                (
                    str(uuid.UUID(int=rnd.getrandbits(128))),
                    version_id,
                    site_id,
                    inspector_of[district_id],
                    "submitted",
                    t - timedelta(hours=1),
                    t,
                    t,
                )
            )
            t += timedelta(days=cadence * rnd.uniform(0.7, 1.05))
        if len(rows) >= BATCH:
            writer.write(
                "inspection",
                [
                    "client_uuid",
                    "template_version_id",
                    "site_id",
                    "inspector_id",
                    "status",
                    "started_at",
                    "submitted_at",
                    "updated_at",
                ],
                rows,
            )
            n_inspections += len(rows)
            rows = []
    writer.write(
        "inspection",
        [
            "client_uuid",
            "template_version_id",
            "site_id",
            "inspector_id",
            "status",
            "started_at",
            "submitted_at",
            "updated_at",
        ],
        rows,
    )
    n_inspections += len(rows)
    print(f"inspections: {n_inspections:,}", flush=True)

    # Hazards along the closed loop.
    columns = [
        "site_id",
        "district_id",
        "reporter_id",
        "grade",
        "category",
        "description",
        "status",
        "created_at",
        "updated_at",
        "lat",
        "lon",
        "deadline",
        "rectified_at",
        "accepted_at",
        "version",
    ]
    span = (now - first).total_seconds()
    rows, n_open = [], 0
    for n in range(args.hazards):
        site_id, district_id, _cadence, lat, lon = sites[rnd.randrange(len(sites))]
        created = first + timedelta(seconds=span * (n + rnd.random()) / args.hazards)
        grade = "major" if rnd.random() < 0.05 else "general"
        planned = created + timedelta(days=rnd.uniform(0.2, 4))
        deadline = local_today(
            settings.zone,
            planned + timedelta(days=rnd.choice((7, 15, 30, 60 if grade == "major" else 30))),
        )
        rectified = planned + timedelta(days=rnd.expovariate(1 / 12))
        accepted = rectified + timedelta(days=rnd.expovariate(1 / 3))
        if rnd.random() < args.stale_share:
            rectified = accepted = None
        if planned > now:
            status, deadline, rectified, accepted = "reported", None, None, None
        elif rectified is None or rectified > now:
            status, rectified, accepted = "rectifying", None, None
        elif accepted > now:
            status, accepted = "rectified", None
        else:
            status = "accepted"
        n_open += status != "accepted"
        updated = accepted or rectified or created
        rows.append(
            (
                site_id,
                district_id,
                inspector_of[district_id],
                grade,
                rnd.choice(CATEGORIES),
                "合成隐患",
                status,
                created,
                updated,
                round(lat + rnd.uniform(-0.003, 0.003), 6),
                round(lon + rnd.uniform(-0.003, 0.003), 6),
                deadline,
                rectified,
                accepted,
                1,
            )
        )
        if len(rows) >= BATCH:
            writer.write("hazard", columns, rows)
            rows = []
            print(
                f"hazards: {n + 1:,} / {args.hazards:,} ({time.monotonic() - began:.0f} s)",
                flush=True,
            )
    writer.write("hazard", columns, rows)
    writer.close()

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))
    print(
        f"city: {len(districts)} districts, {len(sites):,} sites, {n_inspections:,} inspections, "
        f"{args.hazards:,} hazards ({n_open:,} open) over {args.years:g} years into "
        f"{args.database_url.split('@')[-1]} in {time.monotonic() - began:.0f} s"
    )


if __name__ == "__main__":
    main()
