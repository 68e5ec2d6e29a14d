"""Lists without N+1: the number of SQL statements a list endpoint runs does not grow with the
page size (names by id in one IN query, counts grouped), counted with an engine event."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from inspect_app.domain import inspections
from inspect_app.models import Hazard, Site, utcnow
from tests.conftest import PASSWORD
from tests.reliability import complete_answers


@contextmanager
def counting(engine):
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def many(session, region, make_user):
    """12 submitted inspections (each with a failed item, hence a hazard) and 2 drafts of one
    inspector, 12 sites more, 12 hazards more."""
    inspector = make_user("inspector")
    version = region["template_version"]
    first = complete_answers(session, version.id)[0]["item_id"]
    for n in range(12):
        inspections.submit_payload(
            session,
            inspector,
            {
                "client_uuid": str(uuid.uuid4()),
                "template_id": region["template_id"],
                "site_id": region["sites"][n % 2].id,
                "location": None,
                "answers": complete_answers(session, version.id, fail={first: []}),
            },
        )
    for n in range(2):
        inspections.start_draft(
            session, inspector, region["sites"][n].id, region["template_id"], str(uuid.uuid4())
        )
    district = region["sites"][0].district_id
    for n in range(12):
        session.add(Site(name=f"site {n}", address="x", district_id=district, cadence_days=30))
        session.add(
            Hazard(
                site_id=region["sites"][n % 3].id,
                district_id=region["sites"][n % 3].district_id,
                reporter_id=inspector.id,
                grade="general",
                category="c",
                description=f"h{n}",
                status="rectifying",
                deadline=(utcnow() - timedelta(days=n)).date(),
                created_at=utcnow() - timedelta(hours=n),
                updated_at=utcnow(),
            )
        )
    session.commit()
    return inspector


LISTS = [
    ("inspector", "/api/v1/inspections"),
    ("office", "/api/v1/hazards"),
    ("office", "/api/v1/sites"),
    ("office", "/api/v1/templates"),
    ("office", "/api/v1/districts"),
    ("office", "/hazards"),
]


@pytest.mark.parametrize("role,url", LISTS)
def test_list_queries_do_not_grow_with_the_page_size(role, url, app, engine, many, api_as):
    if role == "inspector":  # the owner of the inspections: its own list
        client = TestClient(app)
        token = client.post(
            "/api/v1/auth/token", data={"username": many.username, "password": PASSWORD}
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
    else:
        client, _user = api_as(role)
    counts = {}
    for limit in (1, 12):
        params = {"limit": limit} if url.startswith("/api/") else {}
        client.get(url, params=params)  # warm: lazy loads of the user, caches
        with counting(app.state.engine) as statements:
            response = client.get(url, params=params)
        assert response.status_code == 200, response.text[:300]
        if url.startswith("/api/"):
            assert len(response.json()["items"]) == min(limit, response.json()["total"])
        counts[limit] = len(statements)
        assert statements, "no statements counted: the wrong engine?"
    assert counts[1] == counts[12], counts


def test_the_inspectors_home_page_queries_do_not_grow_with_the_inspections(
    app, engine, session, region, login_as
):
    client, inspector = login_as("inspector")
    version = region["template_version"]

    def submit():
        inspections.submit_payload(
            session,
            inspector,
            {
                "client_uuid": str(uuid.uuid4()),
                "template_id": region["template_id"],
                "site_id": region["sites"][0].id,
                "location": None,
                "answers": complete_answers(session, version.id),
            },
        )

    counts = []
    for n in (1, 10):
        while len(inspections.list_inspections(session, inspector, limit=100)[0]) < n:
            submit()
        client.get("/inspections")
        with counting(app.state.engine) as statements:
            page = client.get("/inspections")
        assert page.status_code == 200
        assert statements
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
