"""The inspector's pages as plain forms and as htmx: start, fill, autosave, submit, summary, record."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from inspect_app.domain import inspections
from inspect_app.models import Answer, AnswerPhoto, Hazard, Inspection
from tests.conftest import csrf, form_token
from tests.test_inspections import all_pass, items_by_key, jpeg

HX = {"HX-Request": "true"}


def start(client, region, site=0) -> int:
    page = client.get("/inspections/new")
    r = client.post(
        "/inspections/new",
        data={
            "csrftoken": form_token(page.text),
            "site_id": region["sites"][site].id,
            "template_id": region["template_id"],
            "client_uuid": re.search(r'name="client_uuid" value="([^"]+)"', page.text).group(1),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


@pytest.fixture
def filling(login_as, region, session):
    """An inspector's client, a new draft of theirs, and the checklist's items by key."""
    client, _ = login_as("inspector")
    return client, start(client, region), items_by_key(session, region)


def fields(answer: dict) -> dict:
    """An answer dict as the page's form fields."""
    i = answer["item_id"]
    out = {"items": str(i)}
    for key, name in (
        ("result", "result"),
        ("value", "value"),
        ("note", "note"),
        ("hazard_grade", "grade"),
        ("hazard_description", "description"),
    ):
        if answer.get(key) is not None:
            out[f"{name}-{i}"] = str(answer[key])
    return out


def test_home_lists_my_drafts_and_submissions_only(login_as, region, session):
    alice, _alice = login_as("inspector")
    bob, _bob = login_as("inspector")
    draft_id = start(alice, region)
    page = alice.get("/inspections")
    assert page.status_code == 200
    draft = session.get(Inspection, draft_id)
    # Drafts are linked by the phone's client_uuid (the address that also works offline).
    link = f'href="/inspections/c/{draft.client_uuid}?v={draft.template_version_id}&amp;site={draft.site_id}"'
    assert link in page.text and "蒸湘化工仓库" in page.text
    assert f'/inspections/{draft_id}"' not in bob.get("/inspections").text


def test_office_has_no_inspector_home(login_as, region):
    office, _ = login_as("office")
    assert office.get("/inspections").status_code == 403


def test_new_lists_sites_of_my_district_nearest_first_and_htmx_gets_the_block(login_as, region):
    client, _ = login_as("inspector")
    page = client.get("/inspections/new?lat=26.9001&lon=112.5702")
    assert page.status_code == 200
    assert page.text.index("蒸湘超市") < page.text.index("蒸湘化工仓库")
    assert "珠晖机械厂" not in page.text
    assert "capture" not in page.text  # the start page has no camera
    block = client.get("/inspections/new?q=超市", headers=HX)
    assert block.status_code == 200 and "<html" not in block.text
    assert (
        'id="sites"' in block.text and "蒸湘超市" in block.text and "蒸湘化工仓库" not in block.text
    )
    assert "HX-Request" in block.headers["vary"]


def test_start_twice_with_the_same_client_uuid_makes_one_draft(login_as, region, session):
    client, _ = login_as("inspector")
    page = client.get("/inspections/new")
    data = {
        "csrftoken": form_token(page.text),
        "site_id": region["sites"][0].id,
        "template_id": region["template_id"],
        "client_uuid": "tap-1",
        "lat": "26.8968",
        "lon": "112.5719",
    }
    first = client.post("/inspections/new", data=data, follow_redirects=False)
    second = client.post("/inspections/new", data=data, follow_redirects=False)
    assert first.headers["location"] == second.headers["location"]
    inspection = session.exec(select(Inspection)).one()
    assert inspection.location_source == "device" and inspection.lat == 26.8968


def test_start_at_a_site_of_another_district_is_404(login_as, region, session):
    client, _ = login_as("inspector")
    page = client.get("/inspections/new")
    r = client.post(
        "/inspections/new",
        data={
            "csrftoken": form_token(page.text),
            "site_id": region["sites"][2].id,
            "template_id": region["template_id"],
        },
        follow_redirects=False,
    )
    assert r.status_code == 404
    assert session.exec(select(Inspection)).all() == []


def test_fill_page_shows_one_section_with_controls(filling, session):
    client, iid, items = filling
    page = client.get(f"/inspections/{iid}")
    assert page.status_code == 200
    assert (
        f'name="result-{items["R1"].id}"' in page.text
        and f'name="result-{items["F1"].id}"' not in page.text
    )
    assert "0/4" in page.text  # progress of the first section
    electrical = client.get(f"/inspections/{iid}?section=electrical").text
    assert f'name="value-{items["E4"].id}"' in electrical and "≤ 4 Ω" in electrical
    assert 'accept="image/*" capture="environment" multiple' in electrical
    assert f'data-save="/inspections/{iid}/answers/{items["E1"].id}"' in electrical


def test_htmx_answer_saves_and_returns_the_status_block(filling, session):
    client, iid, items = filling
    r = client.post(
        f"/inspections/{iid}/answers/{items['E4'].id}",
        headers={**HX, **csrf(client)},
        data={f"value-{items['E4'].id}": "7", f"note-{items['E4'].id}": "偏高"},
    )
    assert r.status_code == 200 and "<html" not in r.text
    assert 'data-result="fail"' in r.text and 'hx-swap-oob="true"' in r.text and "1/4" in r.text
    answer = session.exec(select(Answer)).one()
    assert (answer.result, answer.value, answer.note) == ("fail", "7", "偏高")
    bad = client.post(
        f"/inspections/{iid}/answers/{items['E4'].id}",
        headers={**HX, **csrf(client)},
        data={f"value-{items['E4'].id}": "a lot"},
    )
    assert bad.status_code == 422 and "field-error" in bad.text
    session.refresh(answer)
    assert answer.value == "7"


def test_answer_for_an_item_of_another_checklist_or_draft_is_refused(login_as, region, session):
    alice, _ = login_as("inspector")
    bob, _ = login_as("inspector")
    iid = start(alice, region)
    items = items_by_key(session, region)
    assert (
        alice.post(
            f"/inspections/{iid}/answers/999999",
            headers={**HX, **csrf(alice)},
            data={"result-999999": "pass"},
        ).status_code
        == 422
    )
    assert (
        bob.post(
            f"/inspections/{iid}/answers/{items['R1'].id}",
            headers={**HX, **csrf(bob)},
            data={f"result-{items['R1'].id}": "pass"},
        ).status_code
        == 404
    )
    assert bob.get(f"/inspections/{iid}").status_code == 404
    assert session.exec(select(Answer)).all() == []


def test_plain_form_saves_a_section_and_a_photo_and_goes_next(filling, session):
    client, iid, items = filling
    page = client.get(f"/inspections/{iid}?section=fire")
    data = {"csrftoken": form_token(page.text), "go": "electrical"}
    for key in ("F1", "F2", "F3", "F4", "F5"):
        data.update(fields({"item_id": items[key].id, "result": "pass"}))
    data.update(fields({"item_id": items["F2"].id, "result": "fail", "hazard_description": "堵塞"}))
    r = client.post(f"/inspections/{iid}/sections/fire", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("section=electrical")
    f2 = session.exec(select(Answer).where(Answer.item_id == items["F2"].id)).one()
    assert f2.result == "fail" and f2.hazard_description == "堵塞"
    # The item's own photo form (multipart, the token as its first field, as a browser sends it).
    assert f'action="/inspections/{iid}/answers/{items["F2"].id}/photos"' in page.text
    r = client.post(
        f"/inspections/{iid}/answers/{items['F2'].id}/photos",
        data={"csrftoken": form_token(page.text)},
        files=[
            ("file", ("exit.jpg", jpeg(), "image/jpeg")),
            ("file", ("b.jpg", jpeg((0, 0, 200)), "image/jpeg")),
        ],
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    session.refresh(f2)
    assert f2.result == "fail" and f2.hazard_description == "堵塞"  # the answer is kept as it was
    assert len(session.exec(select(AnswerPhoto).where(AnswerPhoto.answer_id == f2.id)).all()) == 2
    bad = client.post(
        f"/inspections/{iid}/answers/{items['F2'].id}/photos",
        data={"csrftoken": form_token(page.text)},
        files={"file": ("x.jpg", b"not an image", "image/jpeg")},
    )
    assert bad.status_code == 422 and "field-error" in bad.text
    # Unticking the photos' "keep" boxes removes them on the next save.
    again = client.get(f"/inspections/{iid}?section=fire")
    assert f'name="photo-{items["F2"].id}"' in again.text
    # The form marks the item's photo list, so that none ticked means none kept (the phone's
    # outbox sends answers without it: they leave the photos be).
    assert f'name="photos-{items["F2"].id}" value="1"' in again.text
    data["csrftoken"] = form_token(again.text)
    data[f"photos-{items['F2'].id}"] = "1"
    client.post(f"/inspections/{iid}/sections/fire", data=data, follow_redirects=False)
    assert session.exec(select(AnswerPhoto)).all() == []


def test_plain_form_with_a_bad_value_shows_it_in_place_and_stores_nothing(filling, session):
    client, iid, items = filling
    page = client.get(f"/inspections/{iid}?section=electrical")
    data = {"csrftoken": form_token(page.text), "go": "chemicals"}
    data.update(fields({"item_id": items["E1"].id, "result": "pass"}))
    data.update(fields({"item_id": items["E4"].id, "value": "four"}))
    r = client.post(f"/inspections/{iid}/sections/electrical", data=data)
    assert r.status_code == 422
    assert 'value="four"' in r.text and "field-error" in r.text
    assert session.exec(select(Answer)).all() == []


def test_photo_of_another_user_cannot_be_attached(login_as, region, session):
    alice, _ = login_as("inspector")
    bob, _ = login_as("inspector")
    iid = start(alice, region)
    items = items_by_key(session, region)
    photo = bob.post(
        "/api/v1/photos", headers=csrf(bob), files={"file": ("b.jpg", jpeg(), "image/jpeg")}
    ).json()
    r = alice.post(
        f"/inspections/{iid}/answers/{items['F1'].id}",
        headers={**HX, **csrf(alice)},
        data={f"result-{items['F1'].id}": "fail", f"photo-{items['F1'].id}": str(photo["id"])},
    )
    assert r.status_code == 422
    assert session.exec(select(Answer)).all() == []


def test_incomplete_submit_shows_what_is_missing_in_place(filling, session):
    client, iid, items = filling
    page = client.get(f"/inspections/{iid}")
    r = client.post(
        f"/inspections/{iid}/submit",
        data={
            "csrftoken": form_token(page.text),
            **fields({"item_id": items["R1"].id, "result": "fail"}),
        },
    )
    assert r.status_code == 422
    assert 'id="problems"' in r.text and r.text.count("<li>") >= len(items) - 1
    assert session.get(Inspection, iid).status == "draft"
    assert session.exec(select(Answer)).one().result == "fail"  # what the form carried is kept


def test_submit_creates_hazards_then_summary_and_record(login_as, region, session, make_user):
    client, user = login_as("inspector")
    iid = start(client, region)
    items = items_by_key(session, region)
    inspections.save_answers(
        session, user, iid, all_pass(items, R2={"result": "fail", "hazard_grade": "major"})
    )
    page = client.get(f"/inspections/{iid}?section=emergency")
    r = client.post(
        f"/inspections/{iid}/submit",
        data={"csrftoken": form_token(page.text), "lat": "26.8968", "lon": "112.5719"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/inspections/{iid}/done"
    hazard = session.exec(select(Hazard)).one()
    assert hazard.grade == "major" and hazard.lat == 26.8968
    done = client.get(f"/inspections/{iid}/done")
    assert done.status_code == 200 and f'href="/hazards/{hazard.id}"' in done.text
    assert 'href="/inspections/new"' in done.text
    # A double tap on submit shows the first result and creates nothing more.
    again = client.post(
        f"/inspections/{iid}/submit",
        data={"csrftoken": form_token(page.text)},
        follow_redirects=False,
    )
    assert again.headers["location"] == f"/inspections/{iid}/done"
    assert len(session.exec(select(Hazard)).all()) == 1
    # The fill page of a submitted inspection goes to its record.
    assert (
        client.get(f"/inspections/{iid}", follow_redirects=False)
        .headers["location"]
        .endswith("/record")
    )
    record = client.get(f"/inspections/{iid}/record")
    assert (
        record.status_code == 200
        and "蒸湘化工仓库" in record.text
        and items["R2"].prompt_zh in record.text
    )
    officer, _ = login_as("officer", "蒸湘区")
    assert officer.get(f"/inspections/{iid}/record").status_code == 200
    other, _ = login_as("officer", "珠晖区")
    assert other.get(f"/inspections/{iid}/record").status_code == 404
    stranger, _ = login_as("inspector")
    assert stranger.get(f"/inspections/{iid}/done").status_code == 404


def test_pages_need_sign_in(client, region):
    r = client.get("/inspections", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_signature_is_kept_on_the_draft_and_only_with_my_own_photo(filling, login_as, session):
    client, iid, _items = filling
    mine = client.post(
        "/api/v1/photos", headers=csrf(client), files={"file": ("s.png", png(), "image/png")}
    ).json()
    other, _ = login_as("inspector")
    theirs = other.post(
        "/api/v1/photos", headers=csrf(other), files={"file": ("t.jpg", jpeg(), "image/jpeg")}
    ).json()
    r = client.post(
        f"/inspections/{iid}/signature",
        headers={**HX, **csrf(client)},
        data={"photo_id": str(theirs["id"])},
    )
    assert r.status_code == 422 and session.get(Inspection, iid).signature_photo_id is None
    r = client.post(
        f"/inspections/{iid}/signature",
        headers={**HX, **csrf(client)},
        data={"photo_id": str(mine["id"])},
    )
    assert r.status_code == 200 and f"/photos/{mine['id']}" in r.text and "<html" not in r.text
    inspection = session.get(Inspection, iid)
    session.refresh(inspection)
    assert inspection.signature_photo_id == mine["id"]
    assert (
        other.post(
            f"/inspections/{iid}/signature", headers=csrf(other), data={"photo_id": ""}
        ).status_code
        == 404
    )
    client.post(f"/inspections/{iid}/signature", headers=csrf(client), data={"photo_id": ""})
    session.refresh(inspection)
    assert inspection.signature_photo_id is None


def png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (300, 120), (0, 0, 0, 0)).save(buf, "PNG")
    return buf.getvalue()
