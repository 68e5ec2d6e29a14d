"""The officer's hazard pages: the filtered list, the hazard page and its forms (plain and htmx)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from inspect_app.config import DEFAULT_TIMEZONE
from inspect_app.domain import hazards
from inspect_app.domain.clock import local_today
from inspect_app.models import Hazard, HazardPhoto
from inspect_app.web.assets import asset_url
from tests.conftest import csrf, form_token
from tests.test_hazards import advance, jpeg, new_hazard, photo_of, plan_fields, snapshot

ZONE = ZoneInfo(DEFAULT_TIMEZONE)

HTMX = {"HX-Request": "true"}
HTML = {"accept": "text/html"}


def plan_form(token: str, version: int, grade: str = "general", **change) -> dict:
    fields = {
        k: (v.isoformat() if isinstance(v, date) else v) for k, v in plan_fields(grade).items()
    }
    if "stop_production" in fields:
        fields["stop_production"] = "yes" if fields["stop_production"] else "no"
    return {**fields, "csrftoken": token, "version": str(version), **change}


# --- the list ---------------------------------------------------------------------------------


def test_officer_list_shows_own_district_with_overdue_marked(
    login_as, session, region, make_user, settings
):
    client, officer = login_as("officer")
    mine = new_hazard(session, region, officer)
    late = new_hazard(session, region, officer, site=1)
    hazards.set_plan(
        session,
        officer,
        late.id,
        settings=settings,
        now=datetime(2026, 1, 1, tzinfo=UTC),
        **plan_fields(deadline=date(2026, 1, 10)),
    )
    theirs = new_hazard(session, region, make_user("inspector", "珠晖区"), site=2)
    page = client.get("/hazards")
    assert page.status_code == 200
    assert f'href="/hazards/{mine.id}"' in page.text and f'href="/hazards/{late.id}"' in page.text
    assert f'href="/hazards/{theirs.id}"' not in page.text
    assert page.text.count("badge overdue") == 1 and "is-overdue" in page.text
    assert 'name="district"' not in page.text  # an officer has one district
    only_late = client.get(
        "/hazards",
        params={"overdue": "true", "status": "", "grade": "", "site": "", "since": "", "until": ""},
    )
    assert f'/hazards/{late.id}"' in only_late.text and f'/hazards/{mine.id}"' not in only_late.text


@pytest.mark.parametrize(
    "params,expect",
    [
        ({"status": "rectifying"}, {"planned"}),
        ({"status": "open"}, {"planned", "major", "other_site"}),
        ({"grade": "major"}, {"major"}),
        ({"site": "SITE2"}, {"other_site"}),
        ({"since": "TOMORROW"}, set()),
        ({"until": "TODAY", "since": "TODAY"}, {"planned", "major", "other_site"}),
    ],
)
def test_list_filters(login_as, session, region, settings, params, expect):
    client, officer = login_as("officer")
    made = {
        "planned": new_hazard(session, region, officer),
        "major": new_hazard(session, region, officer, grade="major"),
        "other_site": new_hazard(session, region, officer, site=1),
    }
    advance(session, settings, officer, made["planned"].id, "rectifying")
    values = {
        "SITE2": str(region["sites"][1].id),
        "TODAY": local_today(ZONE).isoformat(),
        "TOMORROW": (local_today(ZONE) + timedelta(days=1)).isoformat(),
    }
    text = client.get("/hazards", params={k: values.get(v, v) for k, v in params.items()}).text
    shown = {name for name, h in made.items() if f'href="/hazards/{h.id}"' in text}
    assert shown == expect


def test_list_htmx_answers_with_the_results_block_only(login_as, session, region):
    client, officer = login_as("officer")
    h = new_hazard(session, region, officer)
    r = client.get("/hazards", params={"grade": "general"}, headers=HTMX)
    assert r.status_code == 200 and "HX-Request" in r.headers["vary"]
    assert r.text.lstrip().startswith('<section id="results"') and "<html" not in r.text
    assert f'/hazards/{h.id}"' in r.text


def test_office_sees_every_district_and_filters_by_one(login_as, session, region, make_user):
    client, _office = login_as("office")
    z = new_hazard(session, region, make_user("inspector"))
    zh = new_hazard(session, region, make_user("inspector", "珠晖区"), site=2)
    page = client.get("/hazards").text
    assert (
        'name="district"' in page and f'/hazards/{z.id}"' in page and f'/hazards/{zh.id}"' in page
    )
    one = client.get("/hazards", params={"district": region["districts"]["珠晖区"].id}).text
    assert f'/hazards/{zh.id}"' in one and f'/hazards/{z.id}"' not in one


def test_inspector_lists_only_what_they_reported(login_as, session, region, make_user):
    client, inspector = login_as("inspector")
    own = new_hazard(session, region, inspector)
    other = new_hazard(session, region, make_user("inspector"))
    page = client.get("/hazards").text
    assert f'/hazards/{own.id}"' in page and f'/hazards/{other.id}"' not in page


@pytest.mark.parametrize(
    "params",
    [
        {"status": "lost"},
        {"grade": "huge"},
        {"overdue": "maybe"},
        {"since": "2026-13-01"},
        {"site": "x"},
        {"since": "2026-05-02", "until": "2026-05-01"},
    ],
)
def test_bad_list_filters_are_a_clear_422(login_as, region, params):
    client, _officer = login_as("officer")
    r = client.get("/hazards", params=params, headers=HTML)
    assert r.status_code == 422 and 'role="alert"' in r.text


def test_list_pages(login_as, session, region):
    client, officer = login_as("officer")
    for _ in range(52):
        hazards.create_hazard(
            session, reporter=officer, site=region["sites"][0], grade="general", description="x"
        )
    session.commit()
    first = client.get("/hazards", params={"grade": "general"}).text
    assert first.count('<li class=""><a href="/hazards/') == 50
    assert "grade=general&amp;offset=50" in first
    second = client.get("/hazards", params={"grade": "general", "offset": 50}).text
    assert second.count('<li class=""><a href="/hazards/') == 2


# --- the hazard page ---------------------------------------------------------------------------


def test_hazard_page_shows_finding_map_forms_and_timeline(login_as, session, region, settings):
    client, officer = login_as("officer")
    h = new_hazard(session, region, officer, settings=settings, with_photo=True)
    page = client.get(f"/hazards/{h.id}").text
    assert 'class="before-after"' in page and "/thumb" in page
    assert 'id="hazard-map"' in page and 'data-lat="26.8968"' in page and "data-boundary=" in page
    assert "<script>" not in page and asset_url("hazards.js") in page
    assert 'id="plan-form"' in page and 'class="timeline"' in page
    assert f'href="/hazards/{h.id}/notice.pdf"' in page


def test_reporter_sees_the_hazard_read_only_and_others_get_404(
    login_as, session, region, make_user
):
    inspector_client, inspector = login_as("inspector")
    h = new_hazard(session, region, inspector)
    page = inspector_client.get(f"/hazards/{h.id}").text
    assert '<form method="post" action="/hazards' not in page and 'id="plan-form"' not in page
    for role, district in (("officer", "珠晖区"), ("inspector", None)):
        other, _ = login_as(role, district)
        assert other.get(f"/hazards/{h.id}", headers=HTML).status_code == 404
    token = form_token(page)  # the sign-out form has one
    r = inspector_client.post(
        f"/hazards/{h.id}/plan", data=plan_form(token, h.version), headers=HTML
    )
    assert r.status_code == 403
    assert snapshot(session, h.id)[0] == "reported"


def test_whole_loop_through_plain_forms(login_as, session, region, settings, make_user):
    client, officer = login_as("officer")
    h = new_hazard(session, region, make_user("inspector"), grade="major")
    token = form_token(client.get(f"/hazards/{h.id}").text)
    r = client.post(
        f"/hazards/{h.id}/plan", data=plan_form(token, 1, "major"), follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"/hazards/{h.id}"
    session.expire_all()
    assert session.get(Hazard, h.id).status == "rectifying"
    # No JavaScript: the photo travels with the form as a file, the token in the form before it.
    r = client.post(
        f"/hazards/{h.id}/rectify",
        data={"csrftoken": token, "version": "2", "note": "已清理"},
        files={"files": ("after.jpg", jpeg("green"), "image/jpeg")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    session.expire_all()
    assert session.get(Hazard, h.id).status == "rectified"
    after = [p for p in hazards.hazard_photos(session, h.id, "rectification")]
    assert len(after) == 1 and after[0].uploaded_by == officer.id
    page = client.get(f"/hazards/{h.id}").text
    assert f"/photos/{after[0].id}/thumb" in page and "Another officer should accept" not in page
    r = client.post(
        f"/hazards/{h.id}/reject",
        data={"csrftoken": token, "version": "3", "reason": "不合格"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.post(
        f"/hazards/{h.id}/rectify",
        data={
            "csrftoken": token,
            "version": "4",
            "note": "再次整改",
            "photo_ids": [str(after[0].id)],
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.post(
        f"/hazards/{h.id}/accept", data={"csrftoken": token, "version": "5"}, follow_redirects=False
    )
    assert r.status_code == 303
    session.expire_all()
    assert session.get(Hazard, h.id).status == "accepted"
    page = client.get(f"/hazards/{h.id}").text
    assert len(re.findall(r"<li>\s*<strong>", page)) == 6  # six events in the timeline
    assert 'id="plan-form"' not in page and 'id="rectify-form"' not in page


def test_htmx_steps_answer_with_the_hazard_block(login_as, session, region, settings, make_user):
    client, officer = login_as("officer")
    h = new_hazard(session, region, make_user("inspector"))
    headers = HTMX | csrf(client)
    r = client.post(f"/hazards/{h.id}/plan", data=plan_form("", 1), headers=headers)
    assert (
        r.status_code == 200
        and r.text.lstrip().startswith('<div id="hazard"')
        and "<html" not in r.text
    )
    assert 'id="rectify-form"' in r.text
    pid = photo_of(session, settings, officer)
    r = client.post(
        f"/hazards/{h.id}/rectify",
        data={"version": "2", "note": "好了", "photo_ids": str(pid)},
        headers=headers,
    )
    assert r.status_code == 200 and 'class="hz-accept"' in r.text
    assert "You recorded this rectification yourself" in r.text or "整改结果由您本人录入" in r.text
    r = client.post(f"/hazards/{h.id}/accept", data={"version": "3"}, headers=headers)
    assert r.status_code == 200 and "status-accepted" in r.text
    # Double tap: the second accept is refused with a message in the block, nothing changes.
    before = snapshot(session, h.id)
    again = client.post(f"/hazards/{h.id}/accept", data={"version": "3"}, headers=headers)
    assert again.status_code == 409 and 'class="alert"' in again.text
    assert snapshot(session, h.id) == before


def test_incomplete_plan_form_shows_field_errors_and_keeps_the_input(login_as, session, region):
    client, officer = login_as("officer")
    h = new_hazard(session, region, officer, grade="major")
    token = form_token(client.get(f"/hazards/{h.id}").text)
    data = plan_form(token, 1, "major", measures="", funds="")
    data.pop("stop_production")
    r = client.post(f"/hazards/{h.id}/plan", data=data, headers=HTML)
    assert r.status_code == 422
    assert r.text.count('class="field-error"') == 3 and "张经理" in r.text
    assert snapshot(session, h.id)[0] == "reported" and hazards.hazard_plan(session, h.id) is None


def test_refused_rectification_keeps_the_uploaded_photo(login_as, session, region, settings):
    client, officer = login_as("officer")
    h = new_hazard(session, region, officer)
    advance(session, settings, officer, h.id, "rectifying")
    token = form_token(client.get(f"/hazards/{h.id}").text)
    r = client.post(
        f"/hazards/{h.id}/rectify",
        data={"csrftoken": token, "note": ""},
        files={"files": ("a.jpg", jpeg("navy"), "image/jpeg")},
        headers=HTML,
    )
    assert r.status_code == 422
    assert 'name="photo_ids" value="' in r.text  # offered again, no second upload needed
    assert session.get(Hazard, h.id).status == "rectifying"
    assert [
        p for p in session.exec(HazardPhoto.__table__.select()).all() if p.kind == "rectification"
    ] == []


def test_reject_without_reason_and_stale_version_on_the_page(
    login_as, session, region, settings, make_user
):
    client, officer = login_as("officer")
    h = new_hazard(session, region, make_user("inspector"))
    advance(session, settings, make_user("officer"), h.id, "rectified")
    token = form_token(client.get(f"/hazards/{h.id}").text)
    before = snapshot(session, h.id)
    r = client.post(
        f"/hazards/{h.id}/reject",
        data={"csrftoken": token, "reason": " ", "version": "3"},
        headers=HTML,
    )
    assert r.status_code == 422 and 'class="field-error"' in r.text
    r = client.post(
        f"/hazards/{h.id}/accept", data={"csrftoken": token, "version": "2"}, headers=HTML
    )
    assert r.status_code == 409 and 'class="alert"' in r.text
    assert snapshot(session, h.id) == before


def test_posts_without_the_csrf_token_are_refused(login_as, session, region):
    client, officer = login_as("officer")
    h = new_hazard(session, region, officer)
    r = client.post(f"/hazards/{h.id}/plan", data=plan_form("", 1))
    assert r.status_code == 403
    assert snapshot(session, h.id)[0] == "reported"


def test_acceptor_must_differ_hides_accept_for_the_rectifier(
    app, login_as, session, region, settings, make_user
):
    app.state.settings = settings.model_copy(update={"acceptor_must_differ": True})
    client, officer = login_as("officer")
    h = new_hazard(session, region, make_user("inspector"))
    advance(session, settings, officer, h.id, "rectified")
    page = client.get(f"/hazards/{h.id}").text
    assert 'class="hz-accept"' not in page and 'class="stack hz-reject"' in page
    r = client.post(f"/hazards/{h.id}/accept", data={"version": "3"}, headers=HTMX | csrf(client))
    assert 'class="alert"' in r.text and snapshot(session, h.id)[0] == "rectified"


def test_list_filters_by_category(login_as, session, region):
    from inspect_app.domain import hazards as hz

    client, officer = login_as("officer")
    site = region["sites"][0]
    for category, text in (("消防安全", "灭火器过期"), ("电气安全", "私拉电线")):
        hz.create_hazard(
            session,
            reporter=officer,
            site=site,
            grade="general",
            description=text,
            category=category,
        )
    session.commit()
    page = client.get("/hazards", params={"category": "消防安全"})
    assert page.status_code == 200
    assert "灭火器过期" in page.text and "私拉电线" not in page.text
    assert 'name="category" value="消防安全"' in page.text
