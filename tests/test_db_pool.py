"""The PostgreSQL pool pings a connection only after it sat idle (db.PING_AFTER_IDLE_SECONDS):
one cut meanwhile (a restart, a firewall) is replaced before use, one in steady use costs no
round trip."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from inspect_app import db
from inspect_app.db import make_engine


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
