"""Test fixtures: a freshly migrated database per run (SQLite, or PostgreSQL when
INSPECT_TEST_DATABASE_URL points at a server), emptied after every test, and helpers to
sign in as each role.

PostgreSQL: INSPECT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test creates a new
database per run (and per xdist worker) on that server and drops it afterwards.
"""

from __future__ import annotations

import json
import os
import re
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
from sqlmodel import Session, SQLModel, select

from inspect_app import security
from inspect_app.config import Settings
from inspect_app.db import make_engine, upgrade
from inspect_app.domain import accounts, checklists, geo
from inspect_app.main import create_app
from inspect_app.models import District, Site

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "inspect_app" / "data"
PASSWORD = "correct horse battery"


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


def load_districts(session: Session, names: tuple[str, ...] | None = None) -> None:
    data = json.loads((DATA / "hengyang_districts.geojson").read_text(encoding="utf-8"))
    if names:
        data["features"] = [f for f in data["features"] if f["properties"]["name"] in names]
    geo.import_districts(session, data)


@pytest.fixture
def region(session):
    """Two districts with real boundaries, three sites, the routine checklist."""
    load_districts(session, ("蒸湘区", "珠晖区"))
    districts = {d.name: d for d in session.exec(select(District)).all()}
    z, h = districts["蒸湘区"], districts["珠晖区"]
    sites = [
        Site(
            name="蒸湘化工仓库",
            address="蒸湘区长丰大道1号",
            district_id=z.id,
            risk_class="A",
            cadence_days=30,
            lat=26.8968,
            lon=112.5719,
        ),
        Site(
            name="蒸湘超市",
            address="蒸湘区华新开发区",
            district_id=z.id,
            risk_class="C",
            cadence_days=90,
            lat=26.9001,
            lon=112.5702,
        ),
        Site(
            name="珠晖机械厂",
            address="珠晖区东风路",
            district_id=h.id,
            risk_class="B",
            cadence_days=60,
            lat=26.8984,
            lon=112.6150,
        ),
    ]
    for s in sites:
        session.add(s)
    session.commit()
    version = checklists.import_yaml_file(session, DATA / "routine-checklist.yaml")
    return {
        "districts": districts,
        "sites": sites,
        "template_version": version,
        "template_id": version.template_id,
    }


@pytest.fixture
def make_user(session, region):
    """make_user(role, district=None, username=None) -> User, with password PASSWORD."""
    counter = iter(range(1, 10_000))

    def _make(role: str, district: str | None = None, username: str | None = None):
        if district is None and role in ("inspector", "officer"):
            district = "蒸湘区"
        name = username or f"{role}{next(counter)}"
        return accounts.create_user(session, name, PASSWORD, role, district)

    return _make


def form_token(html: str) -> str:
    """The CSRF token a page's form carries, as a browser would submit it."""
    match = re.search(r'name="csrftoken" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    page = client.get("/login")
    assert page.status_code == 200
    r = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrftoken": form_token(page.text),
            "next": "/",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


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


def csrf(c: TestClient) -> dict[str, str]:
    """The CSRF header htmx sends (from the cookie the pages set)."""
    if not c.cookies.get("csrftoken"):
        c.get("/login")
    return {"x-csrftoken": c.cookies.get("csrftoken")}
