"""The hazard closed loop: the state machine by role, validation, optimistic locking, overdue
and the history returned by the API.

The helpers at the top (new_hazard, advance, jpeg, photo_of) are shared by the page, notice and
browser tests of this area.
"""

from __future__ import annotations

import io
import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlmodel import Session, func, select

from inspect_app.config import DEFAULT_TIMEZONE
from inspect_app.domain import hazards, photos
from inspect_app.domain.clock import local_today
from inspect_app.domain.errors import Conflict, Forbidden, Invalid
from inspect_app.models import Hazard, HazardEvent, HazardPhoto, RectificationPlan, User

ZONE = ZoneInfo(DEFAULT_TIMEZONE)

STATUSES = ["reported", "rectifying", "rectified", "accepted"]
ACTIONS = ["plan", "rectify", "accept", "reject"]
# How far the loop must go to reach each status.
PATH = {
    "reported": [],
    "rectifying": ["plan"],
    "rectified": ["plan", "rectify"],
    "accepted": ["plan", "rectify", "accept"],
}


def jpeg(color: str = "red", size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()


_colors = iter(f"#{n:06x}" for n in range(0x102030, 0xFFFFFF, 0x010203))


def photo_of(session: Session, settings, user: User) -> int:
    """A real stored photo uploaded by the user (distinct bytes each time)."""
    return photos.ingest_bytes(session, settings, user, jpeg(next(_colors))).id


def new_hazard(
    session: Session,
    region,
    reporter: User,
    *,
    grade: str = "general",
    site: int = 0,
    settings=None,
    with_photo: bool = False,
) -> Hazard:
    s = region["sites"][site]
    photo_ids = [photo_of(session, settings, reporter)] if with_photo else []
    hazard = hazards.create_hazard(
        session,
        reporter=reporter,
        site=s,
        grade=grade,
        description="消防通道堵塞，灭火器过期",
        category="消防安全",
        photo_ids=photo_ids,
        lat=s.lat,
        lon=s.lon,
    )
    session.commit()
    return hazard


def plan_fields(grade: str = "general", deadline: date | None = None) -> dict:
    fields = {
        "responsible_person": "张经理",
        "measures": "清理通道，更换灭火器",
        "deadline": deadline or local_today(ZONE) + timedelta(days=7),
        "rectifier": "李师傅",
        "acceptor": "王科长",
    }
    if grade == "major":
        fields |= {
            "funds": "5000元，灭火器10具",
            "interim_measures": "设置警戒区，专人看守",
            "stop_production": True,
        }
    return fields


def act(session: Session, settings, user: User, hazard_id: int, action: str, **extra) -> Hazard:
    """Perform one transition with valid input."""
    if action == "plan":
        grade = session.get(Hazard, hazard_id).grade
        return hazards.set_plan(
            session, user, hazard_id, settings=settings, **(plan_fields(grade) | extra)
        )
    if action == "rectify":
        return hazards.rectify(
            session,
            user,
            hazard_id,
            note="已清理并更换",
            photo_ids=[photo_of(session, settings, user)],
            **extra,
        )
    if action == "accept":
        return hazards.accept(session, user, hazard_id, settings=settings, **extra)
    return hazards.reject(session, user, hazard_id, reason="灭火器仍未更换", **extra)


def advance(session: Session, settings, user: User, hazard_id: int, status: str) -> Hazard:
    for action in PATH[status]:
        act(session, settings, user, hazard_id, action)
    return session.get(Hazard, hazard_id)


def valid_body(session, settings, user: User, hazard: Hazard, action: str) -> dict:
    if action == "plan":
        return {
            k: (v.isoformat() if isinstance(v, date) else v)
            for k, v in plan_fields(hazard.grade).items()
        }
    if action == "rectify":
        return {"note": "已整改", "photo_ids": [photo_of(session, settings, user)]}
    if action == "reject":
        return {"reason": "整改不到位"}
    return {}


def snapshot(session: Session, hazard_id: int) -> tuple:
    session.expire_all()
    h = session.get(Hazard, hazard_id)
    events = session.exec(
        select(func.count()).select_from(HazardEvent).where(HazardEvent.hazard_id == hazard_id)
    ).one()
    return h.status, h.version, h.deadline, h.rectified_at, h.accepted_at, events


# --- the state machine, by role (table-driven) ---------------------------------------------------

ROLES = ["officer", "office", "admin", "officer_other_district", "reporter", "inspector_other"]


def expected_status(role: str, status: str, action: str) -> int:
    if role in ("officer_other_district", "inspector_other"):
        return 404  # may not even see it
    if role == "reporter":
        return 403  # sees it, may not act
    sources, _to = hazards.TRANSITIONS[action]
    return 200 if status in sources else 409


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("status", STATUSES)
def test_every_transition_by_every_role(api_as, make_user, session, region, settings, role, status):
    admin = make_user("admin")
    if role == "officer_other_district":
        client, user = api_as("officer", "珠晖区")
    elif role == "reporter":
        client, user = api_as("inspector")
    elif role == "inspector_other":
        client, user = api_as("inspector")
    else:
        client, user = api_as(role)
    reporter = user if role == "reporter" else make_user("inspector")
    for action in ACTIONS:
        hazard = new_hazard(session, region, reporter)
        advance(session, settings, admin, hazard.id, status)
        before = snapshot(session, hazard.id)
        r = client.post(
            f"/api/v1/hazards/{hazard.id}/{action}",
            json=valid_body(session, settings, user, hazard, action),
        )
        want = expected_status(role, status, action)
        assert r.status_code == want, (role, status, action, r.text)
        after = snapshot(session, hazard.id)
        if want == 200:
            to = hazards.TRANSITIONS[action][1]
            assert r.json()["status"] == after[0] == to
            assert after[1] == before[1] + 1 and after[5] == before[5] + 1
            assert r.json()["events"][-1]["action"] == action
            assert r.json()["events"][-1]["from_status"] == status
        else:
            assert after == before, (role, status, action)
            assert "detail" in r.json()


def test_the_whole_loop_and_its_history(api_as, session, region, settings):
    client, officer = api_as("officer")
    hazard = new_hazard(session, region, officer, grade="major", settings=settings, with_photo=True)
    plan = valid_body(session, settings, officer, hazard, "plan")
    r = client.post(f"/api/v1/hazards/{hazard.id}/plan", json=plan)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["deadline"] == plan["deadline"] and body["plan"]["stop_production"] is True
    assert body["plan"]["funds"] == plan["funds"]

    first = client.post(
        f"/api/v1/hazards/{hazard.id}/rectify",
        json=valid_body(session, settings, officer, hazard, "rectify"),
    )
    assert first.status_code == 200 and first.json()["status"] == "rectified"
    assert (
        client.post(f"/api/v1/hazards/{hazard.id}/reject", json={"reason": "仍有杂物"}).json()[
            "status"
        ]
        == "rectifying"
    )
    second = valid_body(session, settings, officer, hazard, "rectify")
    assert client.post(f"/api/v1/hazards/{hazard.id}/rectify", json=second).status_code == 200
    done = client.post(f"/api/v1/hazards/{hazard.id}/accept", json={"version": 5})
    assert done.status_code == 200, done.text

    detail = client.get(f"/api/v1/hazards/{hazard.id}").json()
    assert detail["status"] == "accepted" and detail["accepted_at"] and detail["overdue"] is False
    assert detail["version"] == 6
    assert [(e["action"], e["from_status"], e["to_status"]) for e in detail["events"]] == [
        ("created", None, "reported"),
        ("plan", "reported", "rectifying"),
        ("rectify", "rectifying", "rectified"),
        ("reject", "rectified", "rectifying"),
        ("rectify", "rectifying", "rectified"),
        ("accept", "rectified", "accepted"),
    ]
    events = detail["events"]
    assert all(e["actor_id"] == officer.id and e["actor"] for e in events)
    assert (
        events[1]["payload"]["measures"] == plan["measures"]
        and events[1]["payload"]["revision"] is False
    )
    assert events[3]["payload"] == {"reason": "仍有杂物"}
    assert events[4]["payload"]["photo_ids"] == second["photo_ids"]
    assert events[5]["payload"] == {"same_person": True}
    kinds = [p["kind"] for p in detail["photos"]]
    assert kinds == ["finding", "rectification", "rectification"]
    assert all(p["url"] == f"/photos/{p['id']}" for p in detail["photos"])


def test_plan_may_be_revised_while_rectifying(session, region, make_user, settings):
    officer = make_user("officer")
    hazard = new_hazard(session, region, officer)
    act(session, settings, officer, hazard.id, "plan")
    later = local_today(ZONE) + timedelta(days=30)
    revised = act(
        session, settings, officer, hazard.id, "plan", deadline=later, measures="另行采购"
    )
    assert revised.status == "rectifying" and revised.deadline == later
    plans = session.exec(
        select(RectificationPlan).where(RectificationPlan.hazard_id == hazard.id)
    ).all()
    assert len(plans) == 1 and plans[0].measures == "另行采购" and plans[0].deadline == later
    last = hazards.hazard_events(session, hazard.id)[-1]
    assert (last.action, last.from_status, last.to_status) == ("plan", "rectifying", "rectifying")
    assert last.payload["revision"] is True


def test_a_revision_may_keep_a_deadline_that_has_passed_but_not_set_a_new_past_one(
    session, region, make_user, settings
):
    officer = make_user("officer")
    hazard = new_hazard(session, region, officer)
    deadline = date(2026, 3, 10)
    set_on = datetime(2026, 3, 1, 4, tzinfo=UTC)
    hazards.set_plan(
        session, officer, hazard.id, now=set_on, settings=settings, **plan_fields(deadline=deadline)
    )
    after = datetime(2026, 3, 20, 4, tzinfo=UTC)
    hazards.set_plan(
        session,
        officer,
        hazard.id,
        now=after,
        settings=settings,
        **(plan_fields(deadline=deadline) | {"measures": "补充措施"}),
    )
    before = snapshot(session, hazard.id)
    with pytest.raises(Invalid) as err:
        hazards.set_plan(
            session,
            officer,
            hazard.id,
            now=after,
            settings=settings,
            **plan_fields(deadline=date(2026, 3, 15)),
        )
    assert "deadline" in err.value.errors
    assert snapshot(session, hazard.id) == before


# --- bad input: a clear 4xx, nothing changed, no event --------------------------------------------


@pytest.mark.parametrize(
    "grade,change,field",
    [
        ("general", {"measures": ""}, "measures"),
        ("general", {"responsible_person": "  "}, "responsible_person"),
        ("general", {"rectifier": ""}, "rectifier"),
        ("general", {"acceptor": ""}, "acceptor"),
        ("general", {"deadline": (local_today(ZONE) - timedelta(days=1)).isoformat()}, "deadline"),
        ("major", {"funds": ""}, "funds"),
        ("major", {"interim_measures": ""}, "interim_measures"),
        ("major", {"stop_production": None}, "stop_production"),
    ],
)
def test_incomplete_or_wrong_plan_is_422_and_changes_nothing(
    api_as, session, region, settings, grade, change, field
):
    client, officer = api_as("officer")
    hazard = new_hazard(session, region, officer, grade=grade)
    before = snapshot(session, hazard.id)
    body = valid_body(session, settings, officer, hazard, "plan") | change
    r = client.post(f"/api/v1/hazards/{hazard.id}/plan", json=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]["errors"]
    assert snapshot(session, hazard.id) == before
    assert hazards.hazard_plan(session, hazard.id) is None


@pytest.mark.parametrize(
    "body",
    [
        {"measures": "x"},  # required fields missing
        {
            "responsible_person": "a",
            "measures": "b",
            "deadline": "next week",
            "rectifier": "c",
            "acceptor": "d",
        },
        {
            "responsible_person": "a" * 101,
            "measures": "b",
            "deadline": "2099-01-01",
            "rectifier": "c",
            "acceptor": "d",
        },
    ],
)
def test_malformed_plan_body_is_422(api_as, session, region, body):
    client, officer = api_as("officer")
    hazard = new_hazard(session, region, officer)
    before = snapshot(session, hazard.id)
    assert client.post(f"/api/v1/hazards/{hazard.id}/plan", json=body).status_code == 422
    assert snapshot(session, hazard.id) == before


@pytest.mark.parametrize("body", [{"reason": ""}, {"reason": "   "}, {}])
def test_reject_without_a_reason_is_422(api_as, session, region, settings, body):
    client, officer = api_as("officer")
    hazard = new_hazard(session, region, officer)
    advance(session, settings, officer, hazard.id, "rectified")
    before = snapshot(session, hazard.id)
    assert client.post(f"/api/v1/hazards/{hazard.id}/reject", json=body).status_code == 422
    assert snapshot(session, hazard.id) == before


def test_rectify_needs_a_note_and_own_photos(api_as, make_user, session, region, settings):
    client, officer = api_as("officer")
    hazard = new_hazard(session, region, officer)
    advance(session, settings, officer, hazard.id, "rectifying")
    before = snapshot(session, hazard.id)
    mine = photo_of(session, settings, officer)
    someone_elses = photo_of(session, settings, make_user("inspector"))
    for body in (
        {"note": "", "photo_ids": [mine]},
        {"note": "done", "photo_ids": []},
        {"note": "done", "photo_ids": [someone_elses]},
        {"note": "done", "photo_ids": [999999]},
    ):
        r = client.post(f"/api/v1/hazards/{hazard.id}/rectify", json=body)
        assert r.status_code == 422, (body, r.text)
    assert snapshot(session, hazard.id) == before
    assert session.exec(select(HazardPhoto).where(HazardPhoto.kind == "rectification")).all() == []


def test_double_accept_is_409_and_writes_one_event(api_as, session, region, settings, make_user):
    client, officer = api_as("officer")
    hazard = new_hazard(session, region, make_user("inspector"))
    advance(session, settings, make_user("officer"), hazard.id, "rectified")
    assert client.post(f"/api/v1/hazards/{hazard.id}/accept").status_code == 200
    before = snapshot(session, hazard.id)
    again = client.post(f"/api/v1/hazards/{hazard.id}/accept")
    assert again.status_code == 409 and "detail" in again.json()
    assert snapshot(session, hazard.id) == before
    accepts = [e for e in hazards.hazard_events(session, hazard.id) if e.action == "accept"]
    assert len(accepts) == 1 and accepts[0].payload == {"same_person": False}


def test_a_stale_version_is_409(api_as, session, region, settings):
    client, officer = api_as("officer")
    hazard = new_hazard(session, region, officer)
    advance(session, settings, officer, hazard.id, "rectified")
    stale = session.get(Hazard, hazard.id).version - 1
    before = snapshot(session, hazard.id)
    assert (
        client.post(f"/api/v1/hazards/{hazard.id}/accept", json={"version": stale}).status_code
        == 409
    )
    assert (
        client.post(
            f"/api/v1/hazards/{hazard.id}/reject", json={"reason": "x", "version": stale}
        ).status_code
        == 409
    )
    assert snapshot(session, hazard.id) == before


def test_unknown_hazard_and_anonymous_callers(api_as, client, session, region, make_user):
    c, _officer = api_as("officer")
    assert c.post("/api/v1/hazards/999999/accept").status_code == 404
    hazard = new_hazard(session, region, make_user("inspector"))
    assert client.post(f"/api/v1/hazards/{hazard.id}/reject", json={"reason": "x"}).status_code in (
        401,
        403,
    )


# --- the acceptor is another person ---------------------------------------------------------------


def test_accepting_ones_own_rectification_is_refused_when_configured(
    session, region, make_user, settings
):
    strict = settings.model_copy(update={"acceptor_must_differ": True})
    rectifier, other = make_user("officer"), make_user("office")
    hazard = new_hazard(session, region, make_user("inspector"))
    advance(session, strict, rectifier, hazard.id, "rectified")
    before = snapshot(session, hazard.id)
    with pytest.raises(Forbidden):
        hazards.accept(session, rectifier, hazard.id, settings=strict)
    assert snapshot(session, hazard.id) == before
    assert hazards.accept(session, other, hazard.id, settings=strict).status == "accepted"


def test_plan_with_the_same_rectifier_and_acceptor_is_refused_when_configured(
    session, region, make_user, settings
):
    strict = settings.model_copy(update={"acceptor_must_differ": True})
    officer = make_user("officer")
    hazard = new_hazard(session, region, officer)
    with pytest.raises(Invalid) as err:
        hazards.set_plan(
            session, officer, hazard.id, settings=strict, **(plan_fields() | {"acceptor": "李师傅"})
        )
    assert "acceptor" in err.value.errors
    assert (
        hazards.set_plan(
            session,
            officer,
            hazard.id,
            settings=settings,
            **(plan_fields() | {"acceptor": "李师傅"}),
        ).status
        == "rectifying"
    )


# --- concurrency: one wins, the other gets 409, no lost update ---------------------------------


def test_two_officers_with_the_same_view_one_wins(engine, session, region, make_user, settings):
    a, b = make_user("officer"), make_user("office")
    hazard = new_hazard(session, region, make_user("inspector"))
    advance(session, settings, a, hazard.id, "rectified")
    with (
        Session(engine, expire_on_commit=False) as first,
        Session(engine, expire_on_commit=False) as second,
    ):
        # Both have read the hazard (same status, same version) before either acts.
        hazards.get_hazard(first, a, hazard.id)
        hazards.get_hazard(second, b, hazard.id)
        hazards.reject(first, a, hazard.id, reason="不合格")
        with pytest.raises(Conflict):
            hazards.accept(second, b, hazard.id, settings=settings)
    status, version, *_rest, events = snapshot(session, hazard.id)
    assert status == "rectifying"
    actions = [e.action for e in hazards.hazard_events(session, hazard.id)]
    assert actions.count("reject") == 1 and "accept" not in actions


def test_concurrent_threads_exactly_one_transition(engine, session, region, make_user, settings):
    officers = [make_user("officer") for _ in range(4)]
    hazard = new_hazard(session, region, make_user("inspector"))
    advance(session, settings, officers[0], hazard.id, "rectified")
    version = session.get(Hazard, hazard.id).version
    barrier = threading.Barrier(len(officers))
    outcomes: list[str] = []

    def worker(n: int, user: User) -> None:
        with Session(engine, expire_on_commit=False) as s:
            barrier.wait()
            try:
                if n % 2:
                    hazards.accept(s, user, hazard.id, settings=settings, expected_version=version)
                else:
                    hazards.reject(s, user, hazard.id, reason=f"理由{n}", expected_version=version)
                outcomes.append("won")
            except Conflict:
                outcomes.append("409")

    threads = [threading.Thread(target=worker, args=(n, u)) for n, u in enumerate(officers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["409", "409", "409", "won"]
    _status, new_version, *_rest = snapshot(session, hazard.id)
    assert new_version == version + 1
    late = [
        e for e in hazards.hazard_events(session, hazard.id) if e.action in ("accept", "reject")
    ]
    assert len(late) == 1


# --- overdue across the deadline --------------------------------------------------------------


def test_overdue_is_computed_from_the_deadline_and_the_day(session, region, make_user, settings):
    officer = make_user("officer")
    hazard = new_hazard(session, region, officer)
    deadline = date(2026, 5, 10)
    hazards.set_plan(
        session,
        officer,
        hazard.id,
        now=datetime(2026, 5, 1, tzinfo=UTC),
        settings=settings,
        **plan_fields(deadline=deadline),
    )
    h = session.get(Hazard, hazard.id)
    assert h.deadline == deadline
    assert not hazards.is_overdue(h, deadline)
    assert hazards.is_overdue(h, deadline + timedelta(days=1))

    def overdue_ids(today: date) -> list[int]:
        query = hazards.apply_filters(
            hazards.visible_hazards_query(officer), hazards.HazardFilters(ZONE, overdue=True), today
        )
        return [x.id for x in session.exec(query).all()]

    assert overdue_ids(deadline) == []
    assert overdue_ids(deadline + timedelta(days=1)) == [hazard.id]
    # Rectified but not yet accepted is still overdue; accepted never is.
    hazards.rectify(
        session,
        officer,
        hazard.id,
        note="好了",
        photo_ids=[photo_of(session, settings, officer)],
        now=datetime(2026, 5, 12, tzinfo=UTC),
    )
    assert overdue_ids(deadline + timedelta(days=3)) == [hazard.id]
    hazards.accept(
        session,
        make_user("office"),
        hazard.id,
        settings=settings,
        now=datetime(2026, 5, 13, tzinfo=UTC),
    )
    assert overdue_ids(deadline + timedelta(days=3)) == []
    assert not hazards.is_overdue(session.get(Hazard, hazard.id), deadline + timedelta(days=30))


def test_overdue_filter_in_the_api(api_as, session, region, make_user, settings):
    client, officer = api_as("officer")
    late, fine = new_hazard(session, region, officer), new_hazard(session, region, officer)
    hazards.set_plan(
        session,
        officer,
        late.id,
        now=datetime(2026, 1, 1, tzinfo=UTC),
        settings=settings,
        **plan_fields(deadline=date(2026, 1, 5)),
    )
    act(session, settings, officer, fine.id, "plan")
    body = client.get("/api/v1/hazards", params={"overdue": "true"}).json()
    assert [h["id"] for h in body["items"]] == [late.id] and body["items"][0]["overdue"] is True
    assert {
        h["id"] for h in client.get("/api/v1/hazards", params={"overdue": "false"}).json()["items"]
    } == {fine.id}


def test_allowed_actions_follow_the_role_and_status(session, region, make_user, settings):
    officer, inspector = make_user("officer"), make_user("inspector")
    hazard = new_hazard(session, region, inspector)
    assert hazards.allowed_actions(hazard, officer) == ["plan"]
    assert hazards.allowed_actions(hazard, inspector) == []
    h = advance(session, settings, officer, hazard.id, "rectified")
    assert hazards.allowed_actions(h, officer) == ["accept", "reject"]
