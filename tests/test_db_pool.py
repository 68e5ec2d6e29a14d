"""The PostgreSQL pool pings a connection only after it sat idle (db.PING_AFTER_IDLE_SECONDS):
one cut meanwhile (a restart, a firewall) is replaced before use, one in steady use costs no
round trip. Every request gives its connection back."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from inspect_app import db
from inspect_app.db import make_engine
from inspect_app.domain import inspections
from tests.clients import csrf
from tests.factories import items_by_key


@pytest.fixture
def pg_engine(settings):
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("the pool's ping is PostgreSQL's (SQLite has no connection to lose)")
    engine = make_engine(settings)
    yield engine
    engine.dispose()


def _backend(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_cut_while_idle_is_replaced_before_use(pg_engine, engine, monkeypatch):
    first = _backend(pg_engine)
    with engine.connect() as admin:  # the test database's own engine: another connection
        assert admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first}).scalar()
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # it has been idle long enough
    second = _backend(pg_engine)  # no error: the ping found it gone and the pool reconnected
    assert second != first


def test_a_connection_in_steady_use_is_not_pinged(pg_engine, monkeypatch):
    pinged = []
    monkeypatch.setattr(pg_engine.dialect, "do_ping", lambda conn: pinged.append(conn) or True)
    for _ in range(3):
        _backend(pg_engine)
    assert pinged == []
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    _backend(pg_engine)
    assert len(pinged) == 1


def test_every_request_gives_its_connection_back(app, session, region, login_as):
    """The request's session is closed on the event loop when nothing is open, in the thread
    pool when a read left a transaction open; either way the pool has every connection back."""
    client, inspector = login_as("inspector")
    draft = inspections.start_draft(
        session, inspector, region["sites"][0].id, region["template_id"], str(uuid.uuid4())
    )
    item = items_by_key(session, region)["R1"].id
    headers = {"HX-Request": "true", **csrf(client)}
    answers = f"/inspections/{draft.id}/answers/{item}"
    for method, url, data, status in (
        ("GET", "/inspections", None, 200),  # reads only: a transaction open at the end
        ("GET", f"/inspections/{draft.id}", None, 200),
        ("POST", answers, {f"result-{item}": "pass"}, 200),  # committed
        ("POST", answers, {f"result-{item}": "maybe"}, 422),  # refused
        ("GET", "/inspections/999999", None, 404),
    ):
        r = client.request(method, url, data=data, headers=headers)
        assert r.status_code == status, (url, r.text[:200])
        assert app.state.engine.pool.checkedout() == 0, url
