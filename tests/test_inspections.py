"""Inspections: the domain rules and the JSON API (start, answer, check, submit, idempotency,
hazards from failed items, location and district, isolation between users)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from inspect_app.domain import inspections
from inspect_app.domain.errors import Conflict, Invalid, NotFound
from inspect_app.i18n import gettext
from inspect_app.models import (
    Answer,
    AnswerPhoto,
    Hazard,
    HazardEvent,
    HazardPhoto,
    Inspection,
    Site,
    utcnow,
)
from tests.factories import all_pass, items_by_key, jpeg


def body(region, answers, site=0, client_uuid=None, location=None) -> dict:
    return {
        "client_uuid": client_uuid or str(uuid.uuid4()),
        "template_id": region["template_id"],
        "site_id": region["sites"][site].id,
        "location": location,
        "answers": answers,
    }


def upload(client, data: bytes, name="p.jpg") -> dict:
    r = client.post("/api/v1/photos", files={"file": (name, data, "image/jpeg")})
    assert r.status_code in (200, 201), r.text
    return r.json()


# --- API: one-shot submission ----------------------------------------------------------------


def test_submit_creates_one_hazard_per_failed_item_and_retry_returns_the_first(
    api_as, region, session
):
    client, _user = api_as("inspector")
    items = items_by_key(session, region)
    photo = upload(client, jpeg())
    answers = all_pass(
        items,
        F2={"result": "fail", "photo_ids": [photo["id"]], "hazard_description": "通道堵塞"},
        R1={"result": "fail", "note": "未公示"},
    )
    payload = body(region, answers, location={"lat": 26.8968, "lon": 112.5719})
    first = client.post("/api/v1/inspections", json=payload)
    assert first.status_code == 201, first.text
    out = first.json()
    assert {h["item_id"] for h in out["hazards"]} == {items["F2"].id, items["R1"].id}
    f2 = next(h for h in out["hazards"] if h["item_id"] == items["F2"].id)
    assert (
        f2["grade"] == "major" and f2["category"] == "消防安全" and f2["description"] == "通道堵塞"
    )
    r1 = next(h for h in out["hazards"] if h["item_id"] == items["R1"].id)
    # No description written: the finding says what is wrong, not the statement of compliance.
    assert r1["grade"] == "general" and r1["description"] == "未满足：" + items["R1"].prompt_zh
    assert f2["district"]["name"] == "蒸湘区" and f2["location"] == {
        "lat": 26.8968,
        "lon": 112.5719,
    }

    again = client.post("/api/v1/inspections", json=payload)
    assert again.status_code == 200
    assert again.json() == out
    assert len(session.exec(select(Inspection)).all()) == 1
    assert len(session.exec(select(Hazard)).all()) == 2
    events = session.exec(select(HazardEvent)).all()
    assert sorted(e.action for e in events) == ["created", "created"]
    assert session.exec(select(HazardPhoto)).one().photo_id == photo["id"]
    site = session.get(Site, region["sites"][0].id)
    session.refresh(site)
    assert site.last_inspected_at is not None


def test_get_inspection_has_answers_and_hazards(api_as, region, session):
    client, _user = api_as("inspector")
    items = items_by_key(session, region)
    out = client.post(
        "/api/v1/inspections", json=body(region, all_pass(items, E4={"value": 9}))
    ).json()
    r = client.get(f"/api/v1/inspections/{out['id']}")
    assert r.status_code == 200
    data = r.json()
    assert data["status"] == "submitted" and data["site"]["name"] == "蒸湘化工仓库"
    assert data["total"] == len(items) == data["answered"] and data["failed"] == 1
    e4 = next(a for a in data["answers"] if a["item_key"] == "E4")
    assert e4["result"] == "fail" and e4["value"] == "9"  # outside the limit fails on its own
    assert [h["item_id"] for h in data["hazards"]] == [items["E4"].id]
    assert data["location_source"] == "site"  # no device point, no photo: the site's


def test_incomplete_submission_lists_every_problem_and_stores_nothing(api_as, region, session):
    client, _ = api_as("inspector")
    items = items_by_key(session, region)
    answers = [a for a in all_pass(items, F1={"result": "fail"}) if a["item_id"] != items["R2"].id]
    r = client.post("/api/v1/inspections", json=body(region, answers))
    assert r.status_code == 422
    errors = r.json()["detail"]["errors"]
    assert set(errors) == {str(items["R2"].id), str(items["F1"].id)}
    assert "photo" in errors[str(items["F1"].id)][0].lower() or errors[str(items["F1"].id)]
    assert session.exec(select(Inspection)).all() == []
    assert session.exec(select(Answer)).all() == []


@pytest.mark.parametrize(
    "override, status",
    [
        ({"E4": {"value": "abc"}}, 422),
        ({"R1": {"result": "na"}}, 422),  # pass_fail has no N/A
        ({"E4": {"value": None, "result": "pass"}}, 422),  # a number item needs its value
        ({"R1": {"result": "maybe"}}, 422),
        ({"R1": {"result": "fail", "hazard_grade": "huge"}}, 422),
    ],
)
def test_bad_answers_are_refused(api_as, region, session, override, status):
    client, _ = api_as("inspector")
    items = items_by_key(session, region)
    r = client.post("/api/v1/inspections", json=body(region, all_pass(items, **override)))
    assert r.status_code == status, r.text
    assert session.exec(select(Inspection)).all() == []


def test_item_of_another_checklist_is_refused(api_as, region, session):
    client, _ = api_as("inspector")
    items = items_by_key(session, region)
    r = client.post(
        "/api/v1/inspections",
        json=body(region, all_pass(items) + [{"item_id": 999999, "result": "pass"}]),
    )
    assert r.status_code == 422
    assert session.exec(select(Inspection)).all() == []


def test_site_of_another_district_is_refused(api_as, region, session):
    client, _ = api_as("inspector")  # 蒸湘区
    items = items_by_key(session, region)
    r = client.post("/api/v1/inspections", json=body(region, all_pass(items), site=2))  # 珠晖机械厂
    assert r.status_code == 404
    assert session.exec(select(Inspection)).all() == []


def test_photo_of_another_user_is_refused(api_as, region, session):
    alice, _ = api_as("inspector")
    bob, _ = api_as("inspector")
    items = items_by_key(session, region)
    photo = upload(bob, jpeg())
    answers = all_pass(items, F1={"result": "fail", "photo_ids": [photo["id"]]})
    r = alice.post("/api/v1/inspections", json=body(region, answers))
    assert r.status_code == 422
    assert str(items["F1"].id) in r.json()["detail"]["errors"]
    assert session.exec(select(Inspection)).all() == []
    assert session.exec(select(AnswerPhoto)).all() == []


def test_inspectors_see_only_their_own(api_as, region, session):
    alice, _ = api_as("inspector")
    bob, _ = api_as("inspector")
    items = items_by_key(session, region)
    out = alice.post("/api/v1/inspections", json=body(region, all_pass(items))).json()
    assert bob.get(f"/api/v1/inspections/{out['id']}").status_code == 404
    assert bob.get("/api/v1/inspections").json() == {"items": [], "total": 0}
    mine = alice.get("/api/v1/inspections").json()
    assert mine["total"] == 1 and mine["items"][0]["id"] == out["id"]
    # Bob reusing Alice's client_uuid neither sees nor changes her inspection.
    clash = bob.post(
        "/api/v1/inspections",
        json=body(
            region,
            all_pass(items),
            client_uuid=out and session.get(Inspection, out["id"]).client_uuid,
        ),
    )
    assert clash.status_code == 409


def test_office_and_officer_read_submitted_inspections_in_scope(api_as, region, session):
    inspector, _ = api_as("inspector")
    items = items_by_key(session, region)
    out = inspector.post("/api/v1/inspections", json=body(region, all_pass(items))).json()
    office, _ = api_as("office")
    officer_here, _ = api_as("officer", "蒸湘区")
    officer_there, _ = api_as("officer", "珠晖区")
    assert office.get(f"/api/v1/inspections/{out['id']}").status_code == 200
    assert officer_here.get(f"/api/v1/inspections/{out['id']}").status_code == 200
    assert officer_there.get(f"/api/v1/inspections/{out['id']}").status_code == 404
    # Only inspectors (and admin) submit.
    assert office.post("/api/v1/inspections", json=body(region, all_pass(items))).status_code == 403


def test_list_pages_with_limit_and_offset(api_as, region, session):
    client, _ = api_as("inspector")
    items = items_by_key(session, region)
    ids = [
        client.post("/api/v1/inspections", json=body(region, all_pass(items))).json()["id"]
        for _ in range(3)
    ]
    page = client.get("/api/v1/inspections?limit=2&offset=1").json()
    assert page["total"] == 3 and len(page["items"]) == 2
    assert {i["id"] for i in page["items"]} < set(ids)
    assert client.get("/api/v1/inspections?limit=0").status_code == 422
    assert client.get("/api/v1/inspections?status=draft").json()["total"] == 0


def test_anonymous_api_is_401(client, region):
    assert client.get("/api/v1/inspections").status_code == 401
    assert client.post("/api/v1/inspections", json={}).status_code == 401


# --- location and district -------------------------------------------------------------------


def test_photo_gps_is_used_when_the_device_gave_none(api_as, region, session):
    client, _ = api_as("inspector")
    items = items_by_key(session, region)
    photo = upload(client, jpeg(gps=(26.9001, 112.5702)))
    assert photo["gps"] is not None
    answers = all_pass(items, F1={"result": "fail", "photo_ids": [photo["id"]]})
    out = client.post("/api/v1/inspections", json=body(region, answers)).json()
    inspection = session.get(Inspection, out["id"])
    assert inspection.location_source == "photo"
    assert out["hazards"][0]["location"]["lat"] == pytest.approx(26.9001, abs=1e-4)


def test_point_in_another_district_keeps_the_site_district_and_records_the_mismatch(
    api_as, region, session
):
    client, _ = api_as("inspector")
    items = items_by_key(session, region)
    zhuhui = region["districts"]["珠晖区"]
    answers = all_pass(items, R1={"result": "fail"})
    # A point at 珠晖机械厂, while the site inspected is in 蒸湘区.
    out = client.post(
        "/api/v1/inspections",
        json=body(region, answers, location={"lat": 26.8984, "lon": 112.6150}),
    ).json()
    hazard = session.get(Hazard, out["hazards"][0]["id"])
    assert hazard.district_id == region["districts"]["蒸湘区"].id
    assert hazard.location_district_id == zhuhui.id
    assert session.get(Inspection, out["id"]).location_district_id == zhuhui.id


# --- domain: drafts, answers, submit ---------------------------------------------------------


def test_start_draft_is_idempotent_and_respects_the_district(session, region, make_user):
    user = make_user("inspector")
    a = inspections.start_draft(session, user, region["sites"][0].id, region["template_id"], "u-1")
    b = inspections.start_draft(session, user, region["sites"][0].id, region["template_id"], "u-1")
    assert (
        a.id == b.id
        and a.status == "draft"
        and a.template_version_id == region["template_version"].id
    )
    with pytest.raises(NotFound):
        inspections.start_draft(session, user, region["sites"][2].id, region["template_id"], "u-2")
    with pytest.raises(Invalid):
        inspections.start_draft(session, user, region["sites"][0].id, region["template_id"], "")
    other = make_user("inspector")
    with pytest.raises(Conflict):
        inspections.start_draft(session, other, region["sites"][0].id, region["template_id"], "u-1")
    assert len(session.exec(select(Inspection)).all()) == 1


def test_save_answer_upserts_and_number_limits_fail_on_their_own(session, region, make_user):
    user = make_user("inspector")
    items = items_by_key(session, region)
    d = inspections.start_draft(session, user, region["sites"][0].id, region["template_id"], "u-1")
    inspections.save_answer(session, user, d.id, items["E4"].id, value="3.5")
    inspections.save_answer(session, user, d.id, items["E4"].id, value="4.5", note="偏高")
    rows = session.exec(select(Answer).where(Answer.inspection_id == d.id)).all()
    assert (
        len(rows) == 1
        and rows[0].result == "fail"
        and rows[0].value == "4.5"
        and rows[0].note == "偏高"
    )
    inspections.save_answer(
        session, user, d.id, items["E4"].id, value="4"
    )  # the limit itself passes
    assert session.exec(select(Answer)).one().result == "pass"
    with pytest.raises(Invalid):
        inspections.save_answer(session, user, d.id, items["E4"].id, value="lots")
    assert session.exec(select(Answer)).one().value == "4"


def test_check_complete_reports_every_item(session, region, make_user):
    user = make_user("inspector")
    items = items_by_key(session, region)
    d = inspections.start_draft(session, user, region["sites"][0].id, region["template_id"], "u-1")
    inspections.save_answer(session, user, d.id, items["F2"].id, result="fail")
    problems = inspections.check_complete(session, d)
    assert len(problems) == len(items)  # every item unanswered, and F2 lacks its photo
    assert problems[items["F2"].id] == [gettext("A failed item needs at least one photo.")]
    with pytest.raises(Invalid) as exc:
        inspections.submit(session, user, d.id)
    assert set(exc.value.errors) == set(problems)
    assert session.get(Inspection, d.id).status == "draft"


def test_submit_with_past_clock_twice_and_not_after(session, region, make_user):
    user = make_user("inspector")
    items = items_by_key(session, region)
    past = datetime(2026, 10, 5, 9, 30, tzinfo=UTC)
    d = inspections.start_draft(
        session, user, region["sites"][1].id, region["template_id"], "u-1", now=past
    )
    inspections.save_answers(
        session,
        user,
        d.id,
        all_pass(items, R3={"result": "fail", "hazard_grade": "major"}),
        now=past,
    )
    _inspection, created, is_new = inspections.submit(session, user, d.id, now=past)
    assert is_new and len(created) == 1 and created[0].grade == "major"
    assert created[0].created_at.replace(tzinfo=UTC) == past
    again = inspections.submit(session, user, d.id)
    assert again[2] is False and [h.id for h in again[1]] == [created[0].id]
    with pytest.raises(Conflict):
        inspections.save_answer(session, user, d.id, items["R1"].id, result="fail")
    assert len(session.exec(select(Hazard)).all()) == 1


def test_drafts_of_others_are_404(session, region, make_user):
    alice, bob = make_user("inspector"), make_user("inspector")
    items = items_by_key(session, region)
    d = inspections.start_draft(session, alice, region["sites"][0].id, region["template_id"], "u-1")
    with pytest.raises(NotFound):
        inspections.save_answer(session, bob, d.id, items["R1"].id, result="pass")
    with pytest.raises(NotFound):
        inspections.get_inspection(session, bob, d.id)
    with pytest.raises(NotFound):
        inspections.get_inspection(session, make_user("office"), d.id)  # drafts are private
    assert inspections.get_inspection(session, make_user("admin"), d.id).id == d.id
    assert session.exec(select(Answer)).all() == []


def test_pick_sites_nearest_first_within_the_district(session, region, make_user):
    user = make_user("inspector")
    due = {"now": utcnow(), "soon_days": 7, "zone": ZoneInfo("Asia/Shanghai")}
    rows = inspections.pick_sites(session, user, lat=26.9001, lon=112.5702, **due)
    assert [r.site.name for r in rows] == ["蒸湘超市", "蒸湘化工仓库"]  # not the other district
    rows = inspections.pick_sites(session, user, q="化工", **due)
    assert [r.site.name for r in rows] == ["蒸湘化工仓库"] and rows[0].distance_km is None


def test_two_identical_posts_racing_make_one_inspection(engine, region, make_user, session):
    """A double tap on a bad network: both requests arrive together; one inspection, one result."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from sqlmodel import Session

    user = make_user("inspector")
    items = items_by_key(session, region)
    payload = body(region, all_pass(items, R1={"result": "fail"}))
    barrier = Barrier(2)

    def post():
        with Session(engine, expire_on_commit=False) as s:
            barrier.wait()
            inspection, created, is_new = inspections.submit_payload(
                s, s.get(type(user), user.id), payload
            )
            return inspection.id, [h.id for h in created], is_new

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: post(), range(2)))
    assert results[0][0] == results[1][0]
    assert sorted(r[2] for r in results) == [False, True]
    assert results[0][1] == results[1][1]
    assert len(session.exec(select(Inspection)).all()) == 1
    assert len(session.exec(select(Hazard)).all()) == 1


def test_ids_no_column_can_hold_are_404_or_422_not_500(api_as, region, session):
    client, _user = api_as("inspector")
    huge = 2**63
    assert client.get(f"/api/v1/inspections/{huge}").status_code == 404
    items = items_by_key(session, region)
    payload = body(region, all_pass(items, F1={"result": "fail", "photo_ids": [huge]}))
    assert client.post("/api/v1/inspections", json=payload).status_code == 422
    assert client.post("/api/v1/inspections", json={**payload, "site_id": huge}).status_code == 404
    assert session.exec(select(Inspection)).all() == []
