"""Engine creation (SQLite tuned for a small server, PostgreSQL for scale) and migrations."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session, create_engine

from inspect_app.config import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Connections per server process (SQLite's file needs them too: readers run in parallel in WAL).
POOL_SIZE, MAX_OVERFLOW = 10, 20


class TextNotStorable(ValueError):
    """Text holding a NUL character (U+0000): PostgreSQL refuses it, SQLite would keep it and
    break exports later. Refused before any statement runs, the same on both databases."""


def _refuse_nul_text(_conn, _cursor, _statement, parameters, _context, _executemany) -> None:
    if _holds_nul(parameters):
        raise TextNotStorable("text with a NUL character")


def _holds_nul(value) -> bool:
    """Any str within the parameters (one row or many, tuples or dicts) holding U+0000."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, (list, tuple)):
        return False
    return any(_holds_nul(v) for v in value)


def make_engine(settings: Settings) -> Engine:
    engine = _engine(settings)
    event.listen(engine, "before_cursor_execute", _refuse_nul_text)
    return engine


def _engine(settings: Settings) -> Engine:
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = create_engine(url, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW)
    _ping_when_idle(engine)
    return engine


# A pooled connection unused for this long is pinged before it is handed out (a firewall, a
# proxy or a database restart may have cut it meanwhile); one in steady use is not. A ping on
# every checkout (pool_pre_ping) was a tenth of an answer save's CPU. A connection cut while in
# steady use fails one request, and SQLAlchemy then replaces every older connection of the pool.
PING_AFTER_IDLE_SECONDS = 10.0


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn, record, _proxy) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("the idle connection is gone") from exc  # the pool reconnects


def requests_at_once(engine: Engine) -> int:
    """How many requests a server process lets in at once (middleware.RequestGate).

    A request holds its database connection from its first query to its end, also while it
    waits for a worker thread between dependencies and the route. Let in more requests than
    connections and each of the thread pool's threads can end up waiting for a connection that
    a request waiting for a thread holds: every request stalls until the pool's timeout (seen
    as 100 of 100 inspectors timing out at once). Two thirds of the pool leaves room for a
    request's short second connection (the CSRF check of a bearer token)."""
    return max(1, (engine.pool.size() + engine.pool._max_overflow) * 2 // 3)


def alembic_config(database_url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


# pg_advisory_lock key held while migrating: any constant our other locks do not use.
MIGRATION_LOCK = 0x1A5EC7_0001


def upgrade(database_url: str) -> None:
    """Bring the database to the newest schema (safe to run on every start).

    On PostgreSQL the migration runs under a session-level advisory lock: servers started
    together queue on it, the first migrates and the others find the schema at head. (On
    SQLite the file's write lock already serialises them.)
    """
    from alembic import command

    cfg = alembic_config(database_url)
    if not database_url.startswith("postgresql"):
        command.upgrade(cfg, "head")
        return
    engine = make_engine(Settings.model_construct(database_url=database_url))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            conn.commit()
            try:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                conn.commit()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                conn.commit()
    finally:
        engine.dispose()


def session_for(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
