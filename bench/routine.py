"""Time the due list and the daily notify against a city made by bench/city.py, each next to a
baseline measured in the same run (which also checks that the numbers agree):

- GET /api/v1/sites?due=overdue&limit=1000 (due status computed in the query) vs loading every
  site and judging it in Python, as a per-site rule would;
- `notify` for the whole city (an officer per district and the office, with e-mail, through a
  real SMTP server (aiosmtpd) and a local group-robot receiver on 127.0.0.1) vs one plain
  full-table GROUP BY of the overdue hazards.

    python bench/routine.py --database-url sqlite:///city.db [--repeat 5]

Targets: the due list < 150 ms; notify for the whole city < 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time
from datetime import UTC, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import delete, select

from bench.city import OFFICE_PASSWORD, OFFICE_USER
from inspect_app.config import Settings
from inspect_app.db import session_for
from inspect_app.domain import accounts, clock, notify
from inspect_app.domain.clock import local_today
from inspect_app.main import create_app
from inspect_app.models import District, Notice, Role, Site, User

BENCH_PASSWORD = "bench-routine-password"

OVERDUE_BASELINE = """
SELECT district_id, SUM(CASE WHEN status <> 'accepted' AND deadline < :today THEN 1 ELSE 0 END)
FROM hazard GROUP BY district_id
"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--database-url", required=True)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument(
        "--days-ahead",
        type=float,
        default=45,
        help="move the clock this far ahead, so that about half the sites are overdue",
    )
    return p.parse_args(argv)


CPU: list[float] = []  # this process's CPU ms of each timed() call, beside the wall time


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median wall time in ms of `repeat` calls after one warm-up, and the last result; the
    median CPU time of this process goes to CPU (on a busy machine the wall time waits)."""
    result = fn()
    times, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    CPU.append(statistics.median(cpu))
    return statistics.median(times), result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def robot_server() -> tuple[ThreadingHTTPServer, list]:
    received: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            body = b'{"errcode": 0, "errmsg": "ok"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def ensure_recipients(session) -> int:
    """An officer with e-mail per district and the office's address (idempotent)."""
    districts = session.exec(select(District).order_by(District.code)).all()
    for n, d in enumerate(districts, 1):
        name = f"bench-officer{n:02d}"
        user = session.exec(select(User).where(User.username == name)).first()
        if user is None:
            accounts.create_user(
                session, name, BENCH_PASSWORD, Role.officer, d.name, email=f"{name}@bench.example"
            )
    office = session.exec(select(User).where(User.username == OFFICE_USER)).one()
    office.email = office.email or "office@bench.example"
    session.add(office)
    session.commit()
    return len(districts) + 1


def main(argv=None) -> None:
    args = parse_args(argv)
    settings = Settings(
        database_url=args.database_url,
        upload_dir=Path(os.environ.get("INSPECT_UPLOAD_DIR", "/tmp/inspect-bench-uploads")),
        env="test",
        secret_key="bench-secret-key-not-for-production",
    )
    app = create_app(settings)
    now = clock.now() + timedelta(days=args.days_ahead)
    clock.now = lambda: now  # the app and notify read the clock module
    with TestClient(app) as client:
        token = client.post(
            "/api/v1/auth/token", data={"username": OFFICE_USER, "password": OFFICE_PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        engine = app.state.engine
        with session_for(engine) as session:
            # Inspection submit keeps Site.last_inspected_at; bench/city.py writes inspections in
            # bulk without it, so it is set here from them (once).
            session.exec(
                text(
                    "UPDATE site SET last_inspected_at = (SELECT max(submitted_at) FROM inspection "
                    "WHERE inspection.site_id = site.id AND inspection.status = 'submitted') "
                    "WHERE last_inspected_at IS NULL"
                )
            )
            session.commit()
            sites = session.exec(select(Site.id)).all()
            hazards = session.exec(text("SELECT count(*) FROM hazard")).one()[0]
        print(f"city: {len(sites):,} sites, {hazards:,} hazards ({engine.dialect.name})")

        def due_list():
            r = client.get(
                "/api/v1/sites", params={"due": "overdue", "limit": 1000}, headers=headers
            )
            assert r.status_code == 200, r.text
            return r.json()

        def per_site_baseline():
            """Every active site loaded and judged one by one in Python."""
            with session_for(engine) as session:
                late = [
                    s
                    for s in session.exec(select(Site).where(Site.is_active.is_(True))).all()
                    if s.last_inspected_at is not None
                    and s.last_inspected_at.replace(tzinfo=UTC) + timedelta(days=s.cadence_days)
                    < now
                ]
            return sorted(late, key=lambda s: s.name)[:1000], len(late)

        ms, body = timed(due_list, args.repeat)
        base_ms, (_late, late_total) = timed(per_site_baseline, args.repeat)
        assert body["total"] == late_total, (body["total"], late_total)
        print(
            f"GET /api/v1/sites?due=overdue&limit=1000: {ms:7.1f} ms median, CPU {CPU[-2]:.1f} ms "
            f"({body['total']:,} overdue, {len(body['items'])} listed; target < 150 ms)"
        )
        print(
            f"  baseline, every site judged in Python:   {base_ms:7.1f} ms, CPU {CPU[-1]:.1f} ms "
            f"(x{base_ms / ms:.1f})"
        )

    inbox = Inbox()
    port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    server, received = robot_server()
    try:
        with session_for(engine) as session:
            recipients = ensure_recipients(session)
            config = notify.NotifyConfig(
                smtp_url=f"smtp://127.0.0.1:{port}",
                mail_from="bench@bench.example",
                webhook_url=f"http://127.0.0.1:{server.server_port}/send",
                escalate_days=settings.escalate_days,
                timezone=settings.timezone,
            )

            def run_notify():
                session.exec(delete(Notice).where(Notice.day == local_today(settings.zone, now)))
                session.commit()
                return notify.run(session, config, now=now, say=lambda _line: None)

            def baseline():
                return dict(
                    session.exec(
                        text(OVERDUE_BASELINE), params={"today": local_today(settings.zone, now)}
                    ).all()
                )

            repeat = max(1, min(args.repeat, 3))
            ms, summary = timed(run_notify, repeat)
            base_ms, counts = timed(baseline, repeat)
            facts = notify.gather(
                session, now=now, escalate_days=settings.escalate_days, zone=settings.zone
            )
            assert {k: v for k, v in counts.items() if v} == facts.overdue_by_district
    finally:
        smtp.stop()
        server.shutdown()
    print(
        f"notify (whole city, {recipients} recipients + robot): {ms / 1000:6.2f} s median, "
        f"CPU {CPU[-2] / 1000:.2f} s "
        f"({summary.sent} sent, {summary.failed} failed, {summary.nothing} with nothing to report; "
        f"{facts.overdue_total:,} overdue hazards; target < 10 s)"
    )
    print(
        f"  baseline, one full-table GROUP BY of the overdue hazards: {base_ms / 1000:6.2f} s, "
        f"CPU {CPU[-1] / 1000:.2f} s "
        f"(notify = x{ms / base_ms:.1f})"
    )
    print(f"  SMTP server got {inbox.count} messages, robot {len(received)} posts in all runs")


if __name__ == "__main__":
    main()
