"""Load: N simulated inspectors against the real server (`inspect-app serve`, production
settings) on SQLite and on PostgreSQL, for a bounded time. Each inspector starts a draft, saves
every answer as the checklist page does (htmx POST per item), uploads a photo for the failed
item, submits, and opens the list of their inspections; then starts again.

Prints throughput, p50/p95/p99 latency and errors per operation, next to the same server's
/healthz throughput and latency measured in the same run at the same concurrency (the ceiling).

    python bench/load.py [--inspectors 50] [--seconds 30] [--databases sqlite,postgresql]
                         [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]
                         [--workers N]

Targets: 50 concurrent inspectors with zero errors; p99 < 300 ms for answer saves.

Scale-out figures (PostgreSQL; issue #15), each beside a baseline measured in the same run:

    python bench/load.py --scaleout [--seconds 20] [--pace-levels 100,200,300,500]
                         [--only cpu|saturation|pace] [--pace-workers 1]

- the server CPU one answer save costs (sum over the server's processes, from /proc), beside
  the CPU of one GET /healthz;
- answers/s at saturation with 1 and with 2 worker processes, beside /healthz at 1 worker;
- inspectors at people's pace (one answer every ~3 s) on one 1-worker server: the most with
  answer p99 under 300 ms;
- photo uploads/s into S3 (moto's server on loopback) beside the local folder.
The load generator runs on the same machine as the server (and the database, and moto): its own
CPU is taken from the server's, so the figures are lower bounds for a dedicated server.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx
from sqlmodel import select

from inspect_app.config import Settings
from inspect_app.db import make_engine, session_for, upgrade
from inspect_app.domain import checklists, geo
from inspect_app.models import District, Site, TemplateItem, User
from tests.factories import jpeg_bytes, password_hash
from tests.reliability import Server, api_token

DATA = ROOT / "inspect_app" / "data"
SITES_PER_DISTRICT = 5
EXPECTED = {"draft": 303, "answer": 200, "photo": 201, "submit": 303, "list": 200, "healthz": 200}


def prepare(
    settings: Settings, inspectors: int
) -> tuple[list[tuple[str, int]], int, list[TemplateItem]]:
    """Districts, sites, the routine checklist and the inspectors (with tokens) in a new database."""
    upgrade(settings.database_url)
    engine = make_engine(settings)
    with session_for(engine) as session:
        geo.import_districts(
            session, json.loads((DATA / "hengyang_districts.geojson").read_text(encoding="utf-8"))
        )
        districts = session.exec(select(District).order_by(District.id)).all()
        sites = {}
        for d in districts:
            lat, lon = d.centroid_lat or 26.9, d.centroid_lon or 112.6
            rows = [
                Site(name=f"{d.name}企业{k}", district_id=d.id, lat=lat, lon=lon)
                for k in range(SITES_PER_DISTRICT)
            ]
            session.add_all(rows)
            session.commit()
            sites[d.id] = rows
        version = checklists.import_yaml_file(session, DATA / "routine-checklist.yaml")
        items = session.exec(
            select(TemplateItem)
            .where(TemplateItem.version_id == version.id)
            .order_by(TemplateItem.id)
        ).all()
        people = []
        for n in range(inspectors):
            district = districts[n % len(districts)]
            user = User(
                username=f"load{n}",
                display_name=f"检查员{n}",
                password_hash=password_hash(),
                role="inspector",
                district_id=district.id,
            )
            session.add(user)
            session.commit()
            site = sites[district.id][n % SITES_PER_DISTRICT]
            people.append((api_token(session, settings, user), site.id))
        template_id = version.template_id
    engine.dispose()
    return people, template_id, items


def answer_form(item: TemplateItem, fail_photo: int | None) -> dict[str, str]:
    key = str(item.id)
    if fail_photo is not None:
        return {
            f"result-{key}": "fail",
            f"photo-{key}": str(fail_photo),
            f"description-{key}": "通道堵塞",
        }
    if item.response_type == "number":
        return {f"value-{key}": str(item.min_value if item.min_value is not None else 0)}
    if item.response_type == "text":
        return {f"value-{key}": "无"}
    if item.response_type == "choice":
        return {f"value-{key}": (item.choices or [""])[0]}
    return {f"result-{key}": "pass"}


class Recorder:
    def __init__(self):
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    async def call(self, op: str, coro) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await coro
        except httpx.HTTPError as exc:
            self.errors[op].append(type(exc).__name__)
            return None
        self.latency[op].append(time.perf_counter() - started)
        if response.status_code != EXPECTED[op]:
            self.errors[op].append(f"{response.status_code} {response.text[:120]}")
        return response


async def inspector(
    client: httpx.AsyncClient,
    rec: Recorder,
    token: str,
    site_id: int,
    template_id: int,
    items: list[TemplateItem],
    until: float,
    seed: int,
    think: float = 0.0,
) -> None:
    """One inspector's loop; `think` is the mean pause between answers (0: as fast as possible)."""
    rng = random.Random(seed)
    # At people's pace the run starts in a steady state, as a working day is: each inspector is
    # somewhere in their checklist and not all tap at the same second (a synchronised start
    # would send every first photo at once, which no city does).
    skip = rng.randrange(len(items)) if think else 0
    if think:
        await asyncio.sleep(rng.uniform(0, 3 * think))  # arriving over ~10 s, not at once
    headers = {"Authorization": f"Bearer {token}"}
    htmx = {**headers, "HX-Request": "true", "accept": "text/html"}
    fail_item = next(i for i in items if i.response_type in ("pass_fail", "pass_fail_na"))
    while time.perf_counter() < until:
        seed += 1
        r = await rec.call(
            "draft",
            client.post(
                "/inspections/new",
                headers=headers,
                data={
                    "site_id": site_id,
                    "template_id": template_id,
                    "client_uuid": str(uuid.uuid4()),
                },
            ),
        )
        if r is None or r.status_code != 303:
            await asyncio.sleep(0.5)
            continue
        inspection = r.headers["location"].rstrip("/").rsplit("/", 1)[-1]
        for item in items[skip:]:
            if time.perf_counter() >= until:
                return
            photo = None
            if item.id == fail_item.id:
                r = await rec.call(
                    "photo",
                    client.post(
                        "/api/v1/photos",
                        headers=headers,
                        files={"file": ("p.jpg", jpeg_bytes(seed, size=(640, 480)), "image/jpeg")},
                    ),
                )
                photo = r.json()["id"] if r is not None and r.status_code == 201 else None
                if photo is None:
                    continue
            if think:  # reading the item, looking around, tapping
                await asyncio.sleep(rng.uniform(0.5, 1.5) * think)
            await rec.call(
                "answer",
                client.post(
                    f"/inspections/{inspection}/answers/{item.id}",
                    headers=htmx,
                    data=answer_form(item, photo),
                ),
            )
        if skip:  # joined mid-checklist: the items before were someone else's morning
            skip = 0
            continue
        await rec.call(
            "submit", client.post(f"/inspections/{inspection}/submit", headers=headers, data={})
        )
        await rec.call(
            "list", client.get("/inspections", headers={**headers, "accept": "text/html"})
        )


async def run_inspector(
    client, rec, until, *, token, site_id, template_id, items, seed, think
) -> None:
    await inspector(client, rec, token, site_id, template_id, items, until, seed, think)


async def healthz(client: httpx.AsyncClient, rec: Recorder, until: float) -> None:
    while time.perf_counter() < until:
        await rec.call("healthz", client.get("/healthz"))


async def drive(base_url: str, workers, seconds: float) -> tuple[Recorder, float]:
    rec = Recorder()
    limits = httpx.Limits(
        max_connections=len(workers) + 5, max_keepalive_connections=len(workers) + 5
    )
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(w(client, rec, until) for w in workers))
        elapsed = time.perf_counter() - started
    return rec, elapsed


def print_errors(rec: Recorder) -> None:
    """Say what went wrong, not just how often."""
    for op, samples in rec.errors.items():
        print(f"    {op}: e.g. {sorted(set(samples))[:3]}")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def report(label: str, rec: Recorder, elapsed: float, ceiling: float | None) -> dict:
    print(f"\n{label}: {elapsed:.1f} s")
    print(
        f"  {'operation':<9} {'count':>7} {'per s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}"
    )
    total = 0
    for op in sorted(set(rec.latency) | set(rec.errors)):
        lat = rec.latency[op]
        total += len(lat)
        print(
            f"  {op:<9} {len(lat):>7} {len(lat) / elapsed:>8.1f} {pct(lat, 50):>8.1f} {pct(lat, 95):>8.1f} "
            f"{pct(lat, 99):>8.1f} {len(rec.errors[op]):>7}"
        )
        for sample in sorted(set(rec.errors[op]))[:3]:
            print(f"      e.g. {sample}")
    rate = total / elapsed
    if ceiling:
        print(
            f"  all requests: {rate:.1f}/s = {rate / ceiling:.0%} of the /healthz ceiling ({ceiling:.1f}/s)"
        )
    return {"rate": rate}


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children (uvicorn's workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def run(kind: str, database_url: str, args) -> None:
    with tempfile.TemporaryDirectory(prefix="inspect-load-") as tmp:
        settings = Settings(
            database_url=database_url,
            upload_dir=Path(tmp) / "uploads",
            secret_key="load-benchmark-secret-key-0123456789",
            env="production",
        )
        people, template_id, items = prepare(settings, args.inspectors)
        server = Server(settings, Path(tmp) / "server", args=("--workers", str(args.workers)))
        server.start()
        try:
            pace = (
                f"{args.think:g} s mean pause between answers"
                if args.think
                else "no pause (saturation)"
            )
            print(
                f"\n=== {kind}: {args.inspectors} inspectors, {len(items)} items per checklist, {pace}, "
                f"{args.seconds:.0f} s (server pid {server.process.pid}) ==="
            )
            health_workers = [healthz] * args.inspectors
            ceiling_rec, ceiling_elapsed = asyncio.run(
                drive(server.base_url, health_workers, args.ceiling_seconds)
            )
            ceiling = report(
                "ceiling: GET /healthz at the same concurrency", ceiling_rec, ceiling_elapsed, None
            )["rate"]
            rec = _run_inspectors(server, people, template_id, items, args.seconds, args.think)
            report(f"inspectors on {kind}", rec, rec.elapsed, ceiling)
            errors = sum(len(v) for v in rec.errors.values())
            p99 = pct(rec.latency["answer"], 99)
            print(
                f"  targets: errors {errors} (want 0) {'OK' if errors == 0 else 'MISSED'}; "
                f"answer p99 {p99:.0f} ms (want < 300) {'OK' if p99 < 300 else 'MISSED'}; "
                f"median answer {statistics.median(rec.latency['answer']) * 1000 if rec.latency['answer'] else 0:.0f} ms"
            )
        finally:
            server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inspectors", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean pause in seconds before each answer (a person filling the form); 0 saturates",
    )
    parser.add_argument("--ceiling-seconds", type=float, default=5)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument(
        "--scaleout", action="store_true", help="the scale-out figures (PostgreSQL, moto)"
    )
    parser.add_argument("--pace-levels", default="100,200,300,500,700")
    parser.add_argument(
        "--only",
        choices=("cpu", "saturation", "pace"),
        help="with --scaleout: stop after phase 1 (the server CPU per answer save beside "
        "/healthz) or after phase 2 (answers/s at saturation), or run phase 3 (people's pace) "
        "alone",
    )
    parser.add_argument(
        "--pace-workers",
        type=int,
        default=1,
        help="worker processes of the server in the people's-pace phase (serve's default on "
        "PostgreSQL is one per core)",
    )
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a server where a throw-away database may be created",
    )
    args = parser.parse_args()
    if args.scaleout:
        return scaleout(args)
    for kind in args.databases.split(","):
        if kind == "sqlite":
            with tempfile.TemporaryDirectory(prefix="inspect-load-db-") as d:
                run(kind, f"sqlite:///{d}/load.db", args)
        elif kind == "postgresql":
            import psycopg

            name = f"inspect_load_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.pg_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                run(kind, args.pg_url.rsplit("/", 1)[0] + "/" + name, args)
            finally:
                with psycopg.connect(args.pg_url, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            parser.error(f"unknown database kind {kind}")
    return 0


# --- scale-out figures -------------------------------------------------------------------------


class PgDatabase:
    """A throw-away PostgreSQL database on the --pg-url server."""

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self.name = f"inspect_load_{uuid.uuid4().hex[:8]}"
        self.url = admin_url.rsplit("/", 1)[0] + "/" + self.name

    def __enter__(self) -> str:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return self.url

    def __exit__(self, *exc) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _settings(database_url: str, tmp: Path) -> Settings:
    return Settings(
        database_url=database_url,
        upload_dir=tmp / "uploads",
        secret_key="load-benchmark-secret-key-0123456789",
        env="production",
    )


async def _answer_cpu(server: Server, token: str, site: int, template_id: int, items, n: int):
    """Server CPU per answer save and per /healthz, one request at a time (no contention)."""
    headers = {"Authorization": f"Bearer {token}"}
    htmx = {**headers, "HX-Request": "true", "accept": "text/html"}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        r = await client.post(
            "/inspections/new",
            headers=headers,
            data={"site_id": site, "template_id": template_id, "client_uuid": str(uuid.uuid4())},
        )
        inspection = r.headers["location"].rsplit("/", 1)[-1]

        async def answers(count: int) -> None:
            for k in range(count):
                item = items[k % len(items)]
                r = await client.post(
                    f"/inspections/{inspection}/answers/{item.id}",
                    headers=htmx,
                    data=answer_form(item, None),
                )
                assert r.status_code == 200, r.text[:200]

        async def health(count: int) -> None:
            for _ in range(count):
                await client.get("/healthz")

        out = {}
        for label, job in (("answer save", answers), ("GET /healthz", health)):
            await job(min(50, n))  # warm-up: connections, caches
            before, wall = server_cpu(server.process.pid), time.perf_counter()
            await job(n)
            cpu = server_cpu(server.process.pid) - before
            out[label] = (cpu / n * 1000, (time.perf_counter() - wall) / n * 1000)
        return out


def _run_inspectors(server: Server, people, template_id, items, seconds, think) -> Recorder:
    workers = [
        functools.partial(
            run_inspector,
            token=token,
            site_id=site,
            template_id=template_id,
            items=items,
            seed=n * 10_000,
            think=think,
        )
        for n, (token, site) in enumerate(people)
    ]
    rec, elapsed = asyncio.run(drive(server.base_url, workers, seconds))
    rec.elapsed = elapsed
    return rec


def _ceiling(server: Server, concurrency: int, seconds: float) -> float:
    rec, elapsed = asyncio.run(drive(server.base_url, [healthz] * concurrency, seconds))
    return len(rec.latency["healthz"]) / elapsed


async def _uploads(base_url: str, token: str, seconds: float, concurrency: int, images):
    headers = {"Authorization": f"Bearer {token}"}
    done, sent, errors = 0, 0, 0
    until = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency + 2)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:

        async def one(k: int) -> None:
            nonlocal done, sent, errors
            while time.perf_counter() < until:
                # Every upload distinct (a JPEG comment after SOI): a repeat would be
                # recognised by its sha256 and cost nothing.
                base = images[k % len(images)]
                tag = f"upload {k}".encode()
                data = base[:2] + b"\xff\xfe" + (len(tag) + 2).to_bytes(2, "big") + tag + base[2:]
                k += concurrency
                r = await client.post(
                    "/api/v1/photos",
                    headers=headers,
                    files={"file": ("p.jpg", data, "image/jpeg")},
                )
                if r.status_code == 201:
                    done += 1
                    sent += len(data)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(one(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
    return done / elapsed, sent / elapsed / 2**20, errors


def phone_like_jpegs(count: int) -> list[bytes]:
    """Distinct 1600x1200 JPEGs of noise (~1 MB each, like a phone photo after the browser
    shrank it), so that every upload is decoded and stored, none deduplicated."""
    import io

    from PIL import Image

    base = Image.frombytes("RGB", (1600, 1200), os.urandom(1600 * 1200 * 3))
    out = []
    for k in range(count):
        image = base.copy()
        image.paste(
            (k * 7 % 256, k * 13 % 256, k * 29 % 256), (k * 10 % 1500, 0, k * 10 % 1500 + 100, 100)
        )
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=80)
        out.append(buffer.getvalue())
    return out


def scaleout(args) -> int:
    print(f"load before: {Path('/proc/loadavg').read_text().strip()} (2 cores shared)")
    report_lines = []
    with tempfile.TemporaryDirectory(prefix="inspect-scaleout-") as tmpdir:
        tmp = Path(tmpdir)
        levels = [int(x) for x in args.pace_levels.split(",")]
        with PgDatabase(args.pg_url) as url:
            settings = _settings(url, tmp)
            people, template_id, items = prepare(
                settings,
                {"cpu": 1, "saturation": args.inspectors}.get(
                    args.only, max(levels + [args.inspectors])
                ),
            )

            if args.only != "pace":  # phases 1 and 2
                # 1. CPU per answer save, one request at a time.
                server = Server(settings, tmp / "cpu", args=("--workers", "1"))
                try:
                    server.start(90)
                    token, site = people[0]
                    cpu = asyncio.run(_answer_cpu(server, token, site, template_id, items, 300))
                finally:
                    server.stop()
                for label, (ms_cpu, ms_wall) in cpu.items():
                    line = f"server CPU per {label}: {ms_cpu:.2f} ms (wall {ms_wall:.1f} ms)"
                    print(line)
                    report_lines.append(line)
                if args.only == "cpu":
                    return 0

                # 2. Saturation: 1 and 2 workers, beside the /healthz ceiling of 1 worker.
                for workers in (1, 2):
                    server = Server(
                        settings, tmp / f"sat{workers}", args=("--workers", str(workers))
                    )
                    try:
                        server.start(90)
                        ceiling = _ceiling(server, args.inspectors, args.ceiling_seconds)
                        rec = _run_inspectors(
                            server, people[: args.inspectors], template_id, items, args.seconds, 0
                        )
                    finally:
                        server.stop()
                    answers = len(rec.latency["answer"]) / rec.elapsed
                    errors = sum(len(v) for v in rec.errors.values())
                    print_errors(rec)
                    line = (
                        f"saturation, {workers} worker(s), {args.inspectors} inspectors: "
                        f"{answers:.1f} answers/s (p50 {pct(rec.latency['answer'], 50):.0f} ms, "
                        f"p99 {pct(rec.latency['answer'], 99):.0f} ms), errors {errors}; "
                        f"/healthz ceiling {ceiling:.0f}/s"
                    )
                    print(line)
                    report_lines.append(line)

                if args.only == "saturation":
                    return 0

            # 3. People's pace on one server: the most inspectors with p99 < 300 ms.
            server = Server(settings, tmp / "pace", args=("--workers", str(args.pace_workers)))
            held = 0
            try:
                server.start(90)
                for level in levels:
                    rec = _run_inspectors(
                        server, people[:level], template_id, items, args.seconds, 3.0
                    )
                    p99 = pct(rec.latency["answer"], 99)
                    errors = sum(len(v) for v in rec.errors.values())
                    rate = len(rec.latency["answer"]) / rec.elapsed
                    ok = p99 < 300 and errors == 0
                    line = (
                        f"people's pace, {level} inspectors (~3 s per answer): {rate:.1f} "
                        f"answers/s, p50 {pct(rec.latency['answer'], 50):.0f} ms, p99 "
                        f"{p99:.0f} ms, errors {errors} -> {'held' if ok else 'NOT held'}"
                    )
                    print(line)
                    report_lines.append(line)
                    print_errors(rec)
                    if not ok:
                        break
                    held = level
            finally:
                server.stop()
            line = (
                f"one {args.pace_workers}-worker server holds {held} inspectors at people's pace "
                "(goal >= 500)"
            )
            print(line)
            report_lines.append(line)

            if args.only != "pace":  # phase 4
                # 4. Photo uploads: the local folder, then S3 (moto's server on loopback).
                from tests.cluster import S3_ENV, MotoServer, s3_environment

                images = phone_like_jpegs(150)
                moto = MotoServer(tmp / "moto").start()
                try:
                    token = people[1][0]
                    for label in ("local folder", "S3 (moto)"):
                        server = Server(settings, tmp / f"up-{label[:2]}", args=("--workers", "1"))
                        if label.startswith("S3"):
                            bucket = moto.new_bucket()
                            server.env.update(s3_environment(f"s3://{bucket}/b", moto.endpoint))
                            os.environ.update(S3_ENV)
                        try:
                            server.start(90)
                            per_s, mb_s, errors = asyncio.run(
                                _uploads(server.base_url, token, args.seconds, 4, images)
                            )
                        finally:
                            server.stop()
                        line = (
                            f"photo uploads to {label}: {per_s:.1f}/s ({mb_s:.1f} MB/s of "
                            f"1600x1200 JPEGs, 4 at a time), errors {errors}"
                        )
                        print(line)
                        report_lines.append(line)
                finally:
                    moto.stop()
    print(f"load after: {Path('/proc/loadavg').read_text().strip()}")
    print("\nsummary:\n  " + "\n  ".join(report_lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
