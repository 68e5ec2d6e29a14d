"""Lists without N+1: the number of SQL statements a list endpoint runs does not grow with the
page size (names by id in one IN query, counts grouped), counted with an engine event; and the
answer save, the most frequent request, stays at its five statements."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import select

from inspect_app.domain import inspections
from inspect_app.models import Answer, Hazard, Inspection, Site, utcnow
from tests.clients import csrf
from tests.factories import PASSWORD, complete_answers, items_by_key


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


def test_an_answer_save_is_five_statements(app, session, region, login_as):
    """The signed-in user with their session, the draft with its checklist version, its answers,
    the answer written, the draft's time written: by the draft's id or by its client_uuid (as
    the phone addresses it), a new answer or a changed one; nothing read again afterwards."""
    client, inspector = login_as("inspector")
    draft = inspections.start_draft(
        session, inspector, region["sites"][0].id, region["template_id"], str(uuid.uuid4())
    )
    started = draft.updated_at
    items = items_by_key(session, region)
    e4, r1 = items["E4"].id, items["R1"].id
    headers = {"HX-Request": "true", **csrf(client)}
    r2 = items["R2"].id  # the first save reads the published checklist once, for the process
    client.post(
        f"/inspections/{draft.id}/answers/{r2}", headers=headers, data={f"result-{r2}": "pass"}
    )
    counts = []
    for ref, item, form in (
        (draft.id, e4, {f"value-{e4}": "3"}),  # new
        (draft.id, e4, {f"value-{e4}": "7"}),  # changed, now outside the limit
        (draft.client_uuid, r1, {f"result-{r1}": "pass"}),
        (draft.client_uuid, r1, {f"result-{r1}": "fail"}),
    ):
        with counting(app.state.engine) as statements:
            r = client.post(f"/inspections/{ref}/answers/{item}", headers=headers, data=form)
        assert r.status_code == 200, r.text[:300]
        counts.append(len(statements))
    assert counts == [5, 5, 5, 5], counts
    assert 'data-result="fail"' in r.text and "✓" in r.text
    session.expire_all()
    stored = {a.item_id: (a.result, a.value) for a in session.exec(select(Answer)).all()}
    assert stored == {e4: ("fail", "7"), r1: ("fail", None), r2: ("pass", None)}
    assert session.get(Inspection, draft.id).updated_at > started


def test_a_submit_reads_the_checklist_once(app, session, region, login_as):
    """The submit checks the answers and makes the hazards from one reading of the checklist
    (it was read twice: once to check, once more after the status flipped)."""
    client, inspector = login_as("inspector")
    draft = inspections.start_draft(
        session, inspector, region["sites"][0].id, region["template_id"], str(uuid.uuid4())
    )
    first = items_by_key(session, region)["R1"].id
    answers = complete_answers(session, region["template_version"].id)
    answers = [a if a["item_id"] != first else {**a, "result": "fail"} for a in answers]
    inspections.save_answers(session, inspector, draft.id, answers)
    with counting(app.state.engine) as statements:
        r = client.post(
            f"/inspections/{draft.id}/submit", headers=csrf(client), follow_redirects=False
        )
    assert r.status_code == 303, r.text[:300]
    reads = [" ".join(s.split())[:40] for s in statements if s.lstrip().startswith("SELECT")]
    assert sum("FROM answer " in s or s.startswith("SELECT answer.") for s in reads) == 1, reads
    session.expire_all()
    assert session.get(Inspection, draft.id).status == "submitted"
    assert [h.item_id for h in session.exec(select(Hazard)).all()] == [first]
