"""The request gate (middleware.RequestGate): more requests at once than the database pool has
connections must queue, not stall. Before the gate, 100 inspectors starting a draft together
all waited for the pool's 30 s timeout: each worker thread waited for a connection that a
request waiting for a thread held."""

from __future__ import annotations

import asyncio
import time
import uuid

import anyio
import httpx

from inspect_app.db import requests_at_once
from inspect_app.middleware import RequestGate
from inspect_app.models import Inspection
from tests.clients import run_async
from tests.factories import routine_version


def test_more_requests_than_connections_all_get_through(app, session, region, api_as):
    _client, inspector = api_as("inspector", "蒸湘区")
    token = _client.headers["Authorization"]
    site = region["sites"][0]
    version = routine_version(session)
    engine = app.state.engine
    at_once = 3 * (engine.pool.size() + engine.pool._max_overflow)  # well past pool and threads
    assert requests_at_once(engine) < engine.pool.size() + engine.pool._max_overflow

    async def start_all() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:

            async def start() -> int:
                r = await c.post(
                    "/inspections/new",
                    headers={"Authorization": token},
                    data={
                        "site_id": site.id,
                        "template_id": version.template_id,
                        "client_uuid": str(uuid.uuid4()),
                    },
                )
                return r.status_code

            return await asyncio.gather(*(start() for _ in range(at_once)))

    started = time.monotonic()
    statuses = run_async(lambda: asyncio.wait_for(start_all(), timeout=120))
    assert statuses == [303] * at_once
    # Not a timing target: a stall would show as the pool's 30 s timeout and 500s.
    assert time.monotonic() - started < 60
    session.expire_all()
    assert len(session.query(Inspection).filter_by(inspector_id=inspector.id).all()) == at_once


def test_a_request_that_waits_too_long_hears_busy_and_when_to_retry():
    async def scenario():
        release = anyio.Event()

        async def slow_app(scope, receive, send):
            await release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"done"})

        gate = RequestGate(
            slow_app, limit=1, wait_seconds=0.2, is_static=lambda p: p == "/static/x"
        )
        transport = httpx.ASGITransport(app=gate)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            first = asyncio.create_task(c.get("/a"))
            await asyncio.sleep(0.05)
            second = await c.get("/b")  # the one slot is taken: waits 0.2 s, then 503
            static = asyncio.create_task(c.get("/static/x"))  # static files never queue
            await asyncio.sleep(0.05)
            release.set()
            return await first, second, await static

    first, second, static = run_async(scenario)
    assert first.status_code == 200 and first.text == "done"
    assert second.status_code == 503 and second.headers["retry-after"] == "5"
    assert "detail" in second.json()
    assert static.status_code == 200


def test_an_upload_on_a_slow_link_holds_no_slot_until_its_body_is_here():
    """Twenty phones sending photos at 200 kbit/s must not shut out everyone else."""

    async def scenario():
        inside = []

        async def app(scope, receive, send):
            while (await receive()).get("more_body"):
                pass
            inside.append(scope["path"])
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        gate = RequestGate(app, limit=1, wait_seconds=0.5, is_static=lambda p: False)
        body_done = anyio.Event()

        async def slow_body():
            yield b"--b\r\nfirst part"
            await body_done.wait()  # the rest of the photo is still on its way
            yield b"\r\n--b--\r\n"

        transport = httpx.ASGITransport(app=gate)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            upload = asyncio.create_task(
                c.post(
                    "/api/v1/photos",
                    content=slow_body(),
                    headers={"content-type": "multipart/form-data; boundary=b"},
                )
            )
            await asyncio.sleep(0.1)
            page = await c.get("/inspections")  # gets the one slot while the upload crawls
            body_done.set()
            return page, await upload, inside

    page, upload, inside = run_async(scenario)
    assert page.status_code == 200 and upload.status_code == 200
    assert inside == ["/inspections", "/api/v1/photos"]


def test_an_upload_holds_no_database_connection_while_its_body_arrives(app, api_as):
    client, _user = api_as("inspector")
    token = client.headers["Authorization"]
    engine = app.state.engine

    async def scenario():
        body_done = asyncio.Event()
        during = []

        async def slow_body():
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            yield b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff"
            await asyncio.sleep(0.3)  # signed in by now, the photo still on its way
            during.append(engine.pool.checkedout())
            await body_done.wait()
            yield b"\r\n--b--\r\n"

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            upload = asyncio.create_task(
                c.post(
                    "/api/v1/photos",
                    content=slow_body(),
                    headers={
                        "Authorization": token,
                        "content-type": "multipart/form-data; boundary=b",
                    },
                )
            )
            await asyncio.sleep(0.5)
            body_done.set()
            return await upload, during

    response, during = run_async(scenario)
    assert response.status_code in (415, 422), response.text  # three bytes are not a photo
    assert during == [0]
