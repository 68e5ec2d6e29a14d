"""CPU of one answer save (and of one submit), in-process on PostgreSQL, beside GET /healthz.

Builds a throw-away PostgreSQL database as bench/load.py does, creates the app in this process
and calls it as an ASGI application directly (no HTTP client, no server: only the app's own
CPU is counted), one request at a time. Prints, each beside the /healthz figure of the same
run: process CPU per answer save (htmx, as the phone's page sends it) with a bearer token and
with a cookie session (+ CSRF header), the SQL statements per save, the CPU of one submit, and
a cProfile top list of the answer save.

    python bench/profile_save.py [--saves 300] [--top 30] [--dump save.prof]
                                 [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]

Target (issue #15): an answer save under 4 ms of server CPU. The real server (uvicorn's HTTP
parsing, access log) adds to this: `python bench/load.py --scaleout --only cpu` measures that.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import anyio.to_thread
from sqlalchemy import event
from sqlmodel import select

from bench.load import PgDatabase, _settings, answer_form, prepare
from inspect_app.db import make_engine, session_for
from inspect_app.domain import accounts
from inspect_app.main import create_app
from inspect_app.models import User
from inspect_app.security import SESSION_COOKIE, csrf_token_for_session


class Asgi:
    """Calls the app the way a server would, without one: a scope, the body, the answer."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, method: str, path: str, headers: dict[str, str], body: bytes = b""):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1:8000"),
                (b"content-length", str(len(body)).encode()),
                *((k.lower().encode(), v.encode()) for k, v in headers.items()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False
        out = {"status": 0, "headers": [], "body": b""}

        async def receive():
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)  # a client that keeps the connection open
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            if message["type"] == "http.response.start":
                out["status"], out["headers"] = message["status"], message.get("headers", [])
            elif message["type"] == "http.response.body":
                out["body"] += message.get("body", b"")

        await self.app(scope, receive, send)
        return out


def form(data: dict) -> tuple[dict[str, str], bytes]:
    return {"content-type": "application/x-www-form-urlencoded"}, urlencode(data).encode()


async def start_draft(call: Asgi, auth: dict, site: int, template_id: int) -> str:
    headers, body = form(
        {"site_id": site, "template_id": template_id, "client_uuid": str(uuid.uuid4())}
    )
    r = await call("POST", "/inspections/new", {**auth, **headers}, body)
    assert r["status"] == 303, r
    location = dict(r["headers"])[b"location"].decode()
    return location.rstrip("/").rsplit("/", 1)[-1]


def saver(call: Asgi, auth: dict, inspection: str, items):
    """A job of `count` answer saves through the checklist's items, as the page's htmx sends."""
    htmx = {**auth, "hx-request": "true", "accept": "text/html"}

    async def job(count: int) -> None:
        for k in range(count):
            item = items[k % len(items)]
            headers, body = form(answer_form(item, None))
            r = await call(
                "POST", f"/inspections/{inspection}/answers/{item.id}", {**htmx, **headers}, body
            )
            assert r["status"] == 200, (r["status"], r["body"][:300])

    return job


def health(call: Asgi):
    async def job(count: int) -> None:
        for _ in range(count):
            r = await call("GET", "/healthz", {})
            assert r["status"] == 200

    return job


async def cpu_per_call(job, n: int) -> float:
    """Process CPU (every thread: the routes run in the thread pool) per call, in ms."""
    await job(min(50, n))  # warm-up: connections, caches, compiled templates
    before = time.process_time()
    await job(n)
    return (time.process_time() - before) / n * 1000


async def statements_per_call(engine, job) -> list[str]:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        await job(1)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return seen


async def submit_cpu(call: Asgi, auth: dict, site, template_id, items, count: int) -> float:
    """CPU per submit of a complete checklist (the answers saved beforehand, not counted)."""
    spent = []
    for _ in range(count + 1):  # the first one warms up
        inspection = await start_draft(call, auth, site, template_id)
        await saver(call, auth, inspection, items)(len(items))
        before = time.process_time()
        r = await call("POST", f"/inspections/{inspection}/submit", dict(auth))
        spent.append(time.process_time() - before)
        assert r["status"] == 303, (r["status"], r["body"][:300])
    return sum(spent[1:]) / count * 1000


async def inline(func, *args, **_kwargs):
    """anyio.to_thread.run_sync without the thread, so that cProfile (one thread) sees the
    route's work; only while profiling."""
    return func(*args)


async def main_async(args) -> int:
    with (
        tempfile.TemporaryDirectory(prefix="inspect-profile-") as tmpdir,
        PgDatabase(args.pg_url) as url,
    ):
        settings = _settings(url, Path(tmpdir))
        people, template_id, items = prepare(settings, 1)
        token, site = people[0]
        engine = make_engine(settings)
        with session_for(engine) as session:
            user = session.exec(select(User).where(User.username == "load0")).one()
            cookie = accounts.open_session(session, settings, user, "cookie")
        engine.dispose()
        app = create_app(settings)
        call = Asgi(app)
        bearer = {"authorization": f"Bearer {token}"}
        browser = {
            "cookie": f"{SESSION_COOKIE}={cookie}",
            "x-csrftoken": csrf_token_for_session(settings.secret_key, cookie),
            "origin": "http://127.0.0.1:8000",
        }
        saves = {
            label: saver(call, auth, await start_draft(call, auth, site, template_id), items)
            for label, auth in (("bearer token", bearer), ("cookie + CSRF", browser))
        }
        rows = [
            (f"answer save ({label})", await cpu_per_call(job, args.saves))
            for label, job in saves.items()
        ]
        rows.append(("GET /healthz", await cpu_per_call(health(call), args.saves)))
        submit = await submit_cpu(call, bearer, site, template_id, items, args.submits)
        print(f"\nin-process CPU per request, PostgreSQL, {args.saves} calls after warm-up:")
        for label, ms in rows:
            print(f"  {label:<30} {ms:6.2f} ms")
        print(f"  {'submit (' + str(len(items)) + ' items)':<30} {submit:6.2f} ms")
        counts = {
            label: await statements_per_call(app.state.engine, job) for label, job in saves.items()
        }
        print(
            "SQL statements per answer save: "
            + ", ".join(f"{k} {len(v)}" for k, v in counts.items())
        )
        for statement in counts["cookie + CSRF"]:
            print("    " + " ".join(statement.split())[:150])

        profiler = cProfile.Profile(time.process_time)  # CPU, not the wait for the database
        real = anyio.to_thread.run_sync
        anyio.to_thread.run_sync = inline
        try:
            profiler.enable()
            await saves["cookie + CSRF"](args.saves)
            profiler.disable()
        finally:
            anyio.to_thread.run_sync = real
        if args.dump:
            profiler.dump_stats(args.dump)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
        print(out.getvalue())
        app.state.engine.dispose()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saves", type=int, default=300)
    parser.add_argument("--submits", type=int, default=5)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--dump", help="also write the profile to this file (pstats, snakeviz)")
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a server where a throw-away database may be created",
    )
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
