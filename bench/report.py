"""Benchmark: the weekly PDF report and the hazard exports.

    python bench/report.py                 # report week of ~2,000 hazards + 1,000,000-row export
    python bench/report.py --rows 100000   # a quicker export run
    python bench/report.py --keep DIR      # keep the database, photos and outputs in DIR

1. Report: a city database with a finished week of ~2,000 new hazards (5 % major, 60 photos),
   plus eight earlier weeks; the city report's time (median of 3) and size. Baseline in the same
   run: serving it again from the archive. Targets: < 3 s, < 10 MB.
2. Exports: `--rows` hazards (half with a plan); CSV and Excel streamed by the app's generators
   in a child process: rows/s and peak memory (RSS). Baseline in the same run: a
   naive export that loads every matching hazard first (on at most --naive-rows rows). Target:
   peak memory < 200 MB.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def configure(workdir: Path) -> None:
    """Settings come from the environment (read once by open_db and passed on)."""
    os.environ["INSPECT_DATABASE_URL"] = (
        os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir / 'bench.db'}"
    )
    os.environ["INSPECT_UPLOAD_DIR"] = str(workdir / "uploads")
    os.environ["INSPECT_SECRET_KEY"] = "bench-secret-key-0123456789"


def open_db():
    from inspect_app.config import get_settings
    from inspect_app.db import make_engine, session_for, upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    engine = make_engine(settings)
    return settings, engine, session_for(engine)


# --- data ----------------------------------------------------------------------------------


def photo_bytes(rng: random.Random, n: int) -> bytes:
    """A 2048x1536 'site photo': gradients and shapes, so JPEG has real work (~0.5-1 MB)."""
    from PIL import Image, ImageDraw

    im = Image.linear_gradient("L").resize((2048, 1536)).convert("RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(60):
        x, y = rng.randrange(2048), rng.randrange(1536)
        draw.rectangle(
            (x, y, x + rng.randrange(40, 400), y + rng.randrange(40, 300)),
            fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)),
        )
    draw.text((40, 40), f"photo {n}", fill=(255, 255, 255))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def base_region(session):
    """12 districts with real boundaries, 50 sites each (70 % inspected recently), users."""
    from sqlalchemy import insert
    from sqlmodel import select

    from inspect_app.domain import checklists, geo
    from inspect_app.models import District, Inspection, Site, User

    data = json.loads(
        (ROOT / "inspect_app/data/hengyang_districts.geojson").read_text(encoding="utf-8")
    )
    geo.import_districts(session, data)
    districts = session.exec(select(District)).all()
    version = checklists.import_yaml_file(session, ROOT / "inspect_app/data/routine-checklist.yaml")
    session.add(
        User(
            username="bench-inspector",
            password_hash="x",
            role="inspector",
            district_id=districts[0].id,
        )
    )
    session.add(User(username="bench-office", password_hash="x", role="office"))
    session.commit()
    inspector = session.exec(select(User).where(User.username == "bench-inspector")).one()
    office = session.exec(select(User).where(User.username == "bench-office")).one()
    rng = random.Random(1)
    now = datetime.now(UTC)
    sites = [
        dict(
            name=f"{d.name}企业{n:03d}",
            district_id=d.id,
            risk_class=rng.choice("ABCD"),
            cadence_days=rng.choice((30, 60, 90)),
            created_at=now - timedelta(days=400),
            is_active=True,
            address="",
            lat=d.centroid_lat,
            lon=d.centroid_lon,
        )
        for d in districts
        for n in range(50)
    ]
    session.execute(insert(Site), sites)
    session.commit()
    site_rows = session.exec(select(Site.id, Site.district_id)).all()
    inspections = [
        dict(
            client_uuid=f"bench-{sid}",
            template_version_id=version.id,
            site_id=sid,
            inspector_id=inspector.id,
            status="submitted",
            started_at=now - timedelta(days=d),
            submitted_at=now - timedelta(days=d),
            updated_at=now - timedelta(days=d),
        )
        for sid, _ in site_rows
        if rng.random() < 0.7
        for d in [rng.randrange(1, 60)]
    ]
    session.execute(insert(Inspection), inspections)
    session.commit()
    return site_rows, inspector, office


def insert_hazards(
    session,
    site_rows,
    reporter_id,
    created_times,
    rng,
    *,
    deadline_of,
    accepted_of,
    chunk: int = 20_000,
    major_share: float = 0.05,
    plan_share: float = 0.7,
) -> None:
    """Bulk rows (no ORM objects): hazards, then the plans of a share of them."""
    from sqlalchemy import func, insert
    from sqlmodel import select

    from inspect_app.models import Hazard, RectificationPlan

    for i in range(0, len(created_times), chunk):
        first_id = (session.exec(select(func.max(Hazard.id))).one() or 0) + 1
        rows, plans = [], []
        for n, created in enumerate(created_times[i : i + chunk]):
            sid, did = site_rows[rng.randrange(len(site_rows))]
            deadline, accepted = deadline_of(created), accepted_of(created)
            planned = accepted is not None or rng.random() < plan_share
            rows.append(
                dict(
                    id=first_id + n,
                    site_id=sid,
                    district_id=did,
                    reporter_id=reporter_id,
                    grade="major" if rng.random() < major_share else "general",
                    category="消防安全",
                    description=f"安全出口被堵塞，疏散指示标志损坏（第{first_id + n}号）",
                    status="accepted" if accepted else ("rectifying" if planned else "reported"),
                    created_at=created,
                    updated_at=accepted or created,
                    deadline=deadline if planned else None,
                    accepted_at=accepted,
                    version=1,
                )
            )
            if planned:
                plans.append(
                    dict(
                        hazard_id=first_id + n,
                        responsible_person="张经理",
                        measures="清理通道，更换标志",
                        deadline=deadline,
                        rectifier="李师傅",
                        acceptor="王科长",
                        funds="",
                        interim_measures="",
                        set_by=reporter_id,
                        set_at=created,
                    )
                )
        session.execute(insert(Hazard), rows)
        if plans:
            session.execute(insert(RectificationPlan), plans)
        session.commit()


def build_report_week(session, settings, week, rng) -> None:
    from sqlmodel import select

    from inspect_app.domain import photos
    from inspect_app.models import Hazard, HazardPhoto

    site_rows, inspector, _office = base_region(session)

    def instant(day: date) -> datetime:
        return datetime.combine(day, dtime(8), tzinfo=settings.zone) + timedelta(
            seconds=rng.randrange(10 * 3600)
        )

    def accepted_of(created):
        return created + timedelta(days=rng.uniform(0.5, 4)) if rng.random() < 0.3 else None

    in_week = sorted(instant(week.start + timedelta(days=rng.randrange(7))) for _ in range(2000))
    insert_hazards(
        session,
        site_rows,
        inspector.id,
        in_week,
        rng,
        accepted_of=accepted_of,
        deadline_of=lambda c: (
            c.astimezone(settings.zone).date() + timedelta(days=rng.randrange(1, 10))
        ),
    )
    earlier = sorted(
        instant(week.start - timedelta(days=rng.randrange(1, 57))) for _ in range(3000)
    )
    insert_hazards(
        session,
        site_rows,
        inspector.id,
        earlier,
        rng,
        accepted_of=lambda c: (
            c + timedelta(days=rng.uniform(1, 20)) if rng.random() < 0.85 else None
        ),
        deadline_of=lambda c: (
            c.astimezone(settings.zone).date() + timedelta(days=rng.randrange(3, 20))
        ),
    )
    majors = session.exec(
        select(Hazard.id)
        .where(Hazard.grade == "major", Hazard.accepted_at.is_(None))
        .order_by(Hazard.deadline, Hazard.id)
        .limit(60)
    ).all()
    for n, hazard_id in enumerate(majors):
        photo = photos.ingest_bytes(session, settings, inspector, photo_bytes(rng, n))
        session.add(HazardPhoto(hazard_id=hazard_id, photo_id=photo.id, kind="finding"))
    session.commit()


# --- measurements ----------------------------------------------------------------------------


def measure_report(session, settings, week) -> dict:
    from inspect_app.domain import report_pdf, reports

    target = reports.check_request(session, None, week.label, None, zone=settings.zone)
    times, size = [], 0
    for _ in range(3):
        t0 = time.perf_counter()
        data = report_pdf.gather(session, settings, target)
        t1 = time.perf_counter()
        content = report_pdf.render(settings, target, data, now=datetime.now(UTC))
        times.append((time.perf_counter() - t0, t1 - t0))
        size = len(content)
    first, _stored = reports.weekly_report(session, settings, target)  # stores it
    t0 = time.perf_counter()
    again, _ = reports.weekly_report(session, settings, target)
    archive = time.perf_counter() - t0
    assert again == first
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(content))
    images = sum(len(p.images) for p in reader.pages)
    (Path(settings.upload_dir) / "bench-city-report.pdf").write_bytes(content)
    return {
        "total_s": statistics.median(t for t, _ in times),
        "gather_s": statistics.median(g for _, g in times),
        "size": size,
        "pages": len(reader.pages),
        "images": images,
        "archive_s": archive,
    }


def _rss(field: str = "VmHWM") -> int:
    """Resident memory of this process in bytes (VmHWM: its peak so far)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_export(kind: str) -> None:
    """Runs in a fresh process: export every hazard as the office would; time and memory peak."""
    from sqlmodel import select

    from inspect_app.config import get_settings
    from inspect_app.db import make_engine, session_for
    from inspect_app.domain import exports
    from inspect_app.domain.hazards import HazardFilters
    from inspect_app.models import User

    settings = get_settings()
    session = session_for(make_engine(settings))
    office = session.exec(select(User).where(User.username == "bench-office")).one()
    before = _rss("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    rows = written = 0
    with open(os.devnull, "wb") as sink:
        if kind == "naive":
            written, rows = naive_export(session, office, sink)
        else:
            counted = _counting(exports.hazard_rows(session, office, HazardFilters(settings.zone)))
            chunks = exports.csv_chunks(counted) if kind == "csv" else exports.xlsx_chunks(counted)
            for chunk in chunks:
                sink.write(chunk)
                written += len(chunk)
            rows = counted.n
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": time.perf_counter() - t0,
                "cpu": time.process_time() - c0,
                "bytes": written,
                "rss_before": before,
                "rss_peak": _rss(),
            }
        )
    )


class _counting:
    def __init__(self, rows):
        self.rows, self.n = rows, 0

    def __iter__(self):
        for row in self.rows:
            self.n += 1
            yield row


def naive_export(session, user, sink) -> tuple[int, int]:
    """The obvious way: load every hazard with its site, district and plan, then write a CSV."""
    import csv

    from sqlmodel import select

    from inspect_app.domain.hazards import visible_hazards_query
    from inspect_app.models import District, RectificationPlan, Site

    hazards = session.exec(visible_hazards_query(user)).all()
    sites = {s.id: s for s in session.exec(select(Site)).all()}
    districts = {d.id: d for d in session.exec(select(District)).all()}
    plans = {p.hazard_id: p for p in session.exec(select(RectificationPlan)).all()}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for h in hazards:
        plan = plans.get(h.id)
        writer.writerow(
            [
                h.id,
                districts[h.district_id].name,
                sites[h.site_id].name,
                h.grade,
                h.status,
                h.category,
                h.description,
                h.created_at,
                h.deadline,
                h.accepted_at,
                plan.responsible_person if plan else "",
                plan.measures if plan else "",
                plan.rectifier if plan else "",
                plan.acceptor if plan else "",
            ]
        )
    data = ("\ufeff" + buffer.getvalue()).encode()
    sink.write(data)
    return len(data), len(hazards)


def run_child(kind: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind], capture_output=True, text=True, env=os.environ
    )
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def fill_export_rows(session, total: int, rng) -> None:
    from sqlalchemy import func
    from sqlmodel import select

    from inspect_app.models import Hazard, Site, User

    have = session.exec(select(func.count()).select_from(Hazard)).one()
    site_rows = session.exec(select(Site.id, Site.district_id)).all()
    reporter = session.exec(select(User).where(User.username == "bench-inspector")).one()
    start = datetime.now(UTC) - timedelta(days=730)
    missing = max(0, total - have)
    times = sorted(start + timedelta(seconds=rng.randrange(700 * 86400)) for _ in range(missing))
    insert_hazards(
        session,
        site_rows,
        reporter.id,
        times,
        rng,
        chunk=50_000,
        plan_share=0.5,
        deadline_of=lambda c: c.date() + timedelta(days=14),
        accepted_of=lambda c: c + timedelta(days=10) if rng.random() < 0.8 else None,
    )


def mb(n: float) -> str:
    return f"{n / 2**20:.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="hazards for the export run")
    parser.add_argument(
        "--naive-rows", type=int, default=200_000, help="rows for the naive baseline (memory!)"
    )
    parser.add_argument("--keep", help="work in this folder and keep it")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_export(args.child)

    workdir = Path(args.keep or tempfile.mkdtemp(prefix="inspect-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    configure(workdir)
    from inspect_app.domain import reports
    from inspect_app.domain.clock import local_today

    settings, engine, session = open_db()
    rng = random.Random(47)
    week = reports.week_of(local_today(settings.zone) - timedelta(days=7))
    try:
        t0 = time.perf_counter()
        build_report_week(session, settings, week, rng)
        print(
            f"data: 12 districts, 600 sites, 5,000 hazards (2,000 in {week.label}), 60 photos "
            f"[{time.perf_counter() - t0:.1f} s to build]"
        )
        r = measure_report(session, settings, week)
        print(
            f"city report {week.label}: {r['total_s']:.2f} s (median of 3; gathering {r['gather_s']:.2f} s), "
            f"{r['size'] / 2**20:.2f} MB, {r['pages']} pages, {r['images']} images   "
            f"[targets < 3 s, < 10 MB: {'met' if r['total_s'] < 3 and r['size'] < 10 * 2**20 else 'MISSED'}]"
        )
        print(
            f"  served again from the archive: {r['archive_s'] * 1000:.0f} ms "
            f"({r['total_s'] / r['archive_s']:.0f}x faster than making it; still gathers to check the data)"
        )

        naive_rows = min(args.naive_rows, args.rows)
        fill_export_rows(session, naive_rows, rng)
        naive = run_child("naive")
        stream_small = run_child("csv")
        t0 = time.perf_counter()
        fill_export_rows(session, args.rows, rng)
        print(f"export data: {args.rows:,} hazards [{time.perf_counter() - t0:.0f} s to insert]")
        csv_run, xlsx_run = run_child("csv"), run_child("xlsx")
        for name, run in (("CSV", csv_run), ("Excel", xlsx_run)):
            print(
                f"{name:5} export of {run['rows']:,} rows: {run['rows'] / run['cpu']:,.0f} rows/s of CPU "
                f"({run['rows'] / run['seconds']:,.0f} rows/s wall on this shared machine; {run['seconds']:.0f} s, "
                f"{mb(run['bytes'])}), peak RSS {mb(run['rss_peak'])} ({mb(run['rss_before'])} before the export)"
                f"   [target < 200 MB: {'met' if run['rss_peak'] < 200 * 2**20 else 'MISSED'}]"
            )
        grow = lambda run: max(run["rss_peak"] - run["rss_before"], 2**20)  # noqa: E731
        print(
            f"baseline at {naive['rows']:,} rows: naive load-all CSV peak RSS {mb(naive['rss_peak'])} "
            f"(+{mb(grow(naive))} during the export, {naive['rows'] / naive['cpu']:,.0f} rows/s of CPU); "
            f"streamed CSV peak RSS {mb(stream_small['rss_peak'])} (+{mb(grow(stream_small))}, "
            f"{stream_small['rows'] / stream_small['cpu']:,.0f} rows/s) -> growth "
            f"{grow(naive) / grow(stream_small):.0f}x smaller streamed; at {csv_run['rows']:,} rows the "
            f"streamed growth is +{mb(grow(csv_run))}"
        )
    finally:
        session.close()
        engine.dispose()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
