"""Test fixtures: a freshly migrated database per run (SQLite, or PostgreSQL when
INSPECT_TEST_DATABASE_URL points at a server), emptied after every test, and helpers to
sign in as each role.

PostgreSQL: INSPECT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test creates a new
database per run (and per xdist worker) on that server and drops it afterwards.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, SQLModel

from inspect_app import security
from inspect_app.config import Settings
from inspect_app.db import make_engine, upgrade
from inspect_app.main import create_app
from tests import factories
from tests.clients import login
from tests.factories import PASSWORD


def pytest_configure(config):
    """The one place that makes password hashing cheap for the suite (argon2 at its smallest
    parameters); the app's own parameters stay as they are (tests/test_password_hashing.py)."""
    security.use_hasher(PasswordHasher.from_parameters(CHEAPEST))


def _pg_admin_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def _fresh_database(folder: Path) -> Iterator[str]:
    """A new, empty database: on the PostgreSQL server of INSPECT_TEST_DATABASE_URL (dropped
    afterwards), or else a SQLite file in folder."""
    base = os.environ.get("INSPECT_TEST_DATABASE_URL", "")
    if base.startswith("postgresql"):
        import psycopg

        name = f"inspect_t_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(_pg_admin_url(base), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield base.rsplit("/", 1)[0] + "/" + name
        finally:
            with psycopg.connect(_pg_admin_url(base), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        yield f"sqlite:///{folder / 'test.db'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    with _fresh_database(tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture
def empty_database_url(tmp_path) -> Iterator[str]:
    """Another database of the same kind, without any schema: for migrating step by step."""
    with _fresh_database(tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url, tmp_path_factory) -> Settings:
    upgrade(database_url)
    return Settings(
        database_url=database_url,
        upload_dir=tmp_path_factory.mktemp("uploads"),
        secret_key="test-secret-key-not-for-production",
        env="test",
    )


@pytest.fixture(scope="session")
def engine(settings):
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _empty_database(engine, settings):
    """Each test starts from empty tables and an empty upload folder."""
    yield
    with engine.begin() as conn:
        tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
                )
            )
        else:
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))
    for child in Path(settings.upload_dir).iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        elif child.name != ".dev-secret-key":
            child.unlink()


@pytest.fixture
def session(engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def region(session):
    """Two districts with real boundaries, three sites, the routine checklist."""
    return factories.region(session)


@pytest.fixture
def make_user(session, region):
    """make_user(role, district=None, username=None) -> User, with password PASSWORD."""
    counter = iter(range(1, 10_000))

    def _make(role: str, district: str | None = None, username: str | None = None):
        return factories.user(session, role, district, username or f"{role}{next(counter)}")

    return _make


@pytest.fixture
def week_data(session, settings, region, make_user):
    """Hazards and an inspection in the last-but-one week (factories.week_of_hazards)."""
    return factories.week_of_hazards(session, settings, region, make_user("inspector"))


@pytest.fixture
def login_as(app, make_user):
    """login_as(role, district=None) -> (TestClient signed in through the login form, user)."""
    clients = []

    def _login(role: str, district: str | None = None):
        user = make_user(role, district)
        c = TestClient(app)
        clients.append(c)
        login(c, user.username)
        return c, user

    yield _login
    for c in clients:
        c.close()


@pytest.fixture
def api_as(app, make_user):
    """api_as(role, district=None) -> (TestClient with a bearer token, user)."""
    clients = []

    def _api(role: str, district: str | None = None):
        user = make_user(role, district)
        c = TestClient(app)
        clients.append(c)
        r = c.post("/api/v1/auth/token", data={"username": user.username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        return c, user

    yield _api
    for c in clients:
        c.close()
