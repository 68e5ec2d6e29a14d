"""The server side of working offline: the service worker and what the phone's outbox asks
for, writes addressed by client_uuid and their replays, and the conflicts of a phone that was
offline for a while (a replaced checklist version, a deactivated site)."""

from __future__ import annotations

import json
import uuid

from sqlmodel import select

from inspect_app.domain import checklists, inspections, photos
from inspect_app.models import Answer, AnswerPhoto, Hazard, Inspection, Site
from tests.clients import csrf
from tests.factories import all_pass, items_by_key, jpeg

JSON = {"Accept": "application/json"}
HX = {"HX-Request": "true"}


def queued_start(client, region, **extra) -> tuple[str, object]:
    """The start as the phone's outbox sends it: its own client_uuid, asking for JSON."""
    ref = str(uuid.uuid4())
    data = {
        "site_id": region["sites"][0].id,
        "template_id": region["template_id"],
        "version_id": region["template_version"].id,
        "client_uuid": ref,
        "queued": "1",
        **extra,
    }
    return ref, client.post("/inspections/new", data=data, headers={**JSON, **csrf(client)})


def test_service_worker_is_served_at_the_root_never_cached_and_versioned(client, app):
    r = client.get("/sw.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "no-store"
    config = json.loads(r.text.split("var CONFIG = ", 1)[1].split(";\n", 1)[0])
    from inspect_app.web.assets import asset_url, asset_version

    # The versioned URLs pages use, the outbox and the offline page among them.
    assert asset_url("outbox.js") in config["shell"] and "/offline" in config["shell"]
    assert asset_url("app.css") in config["shell"]
    assert config["version"] == asset_version()
    app.state.offline_version = "next-deployment"
    assert '"version": "next-deployment"' in client.get("/sw.js").text
    offline = client.get("/offline")
    assert offline.status_code == 200 and "data-offline-page" in offline.text


def test_csrf_and_pages_to_keep_say_who_is_signed_in(client, login_as, session, region):
    anonymous = client.get("/sync/csrf").json()
    assert anonymous["user"] is None and anonymous["csrftoken"]
    assert client.get("/sync/pages", headers=JSON).status_code == 401
    inspector, user = login_as("inspector")
    assert inspector.get("/sync/csrf").json()["user"] == user.id
    draft = inspections.start_draft(
        session, user, region["sites"][0].id, region["template_id"], "keep-1"
    )
    pages = inspector.get("/sync/pages").json()
    assert pages["user"] == user.id
    version = region["template_version"].id
    assert pages["pages"][:2] == ["/inspections", "/inspections/new"]
    assert f"/inspections/form/{version}?section=fire" in pages["pages"]
    assert inspections.page_address(draft) in pages["pages"]
    officer, _ = login_as("officer")
    assert officer.get("/sync/pages").json()["pages"] == ["/hazards", "/hazards/new"]
    assert "/hazards/new" in pages["pages"]  # a hazard found in a basement can be reported


def test_kept_pages_answer_304_while_unchanged_and_only_to_the_same_bytes(
    login_as, session, region
):
    """The service worker re-checks the pages it keeps with If-None-Match: an unchanged page is
    a 304 without a body; a changed one or another user's tag gets the page."""
    inspector, user = login_as("inspector")
    other, _ = login_as("inspector")
    draft = inspections.start_draft(
        session, user, region["sites"][0].id, region["template_id"], "etag-1"
    )
    form = f"/inspections/form/{region['template_version'].id}?section=fire"
    first = inspector.get(form)
    tag = first.headers["etag"]
    assert first.status_code == 200 and first.headers["cache-control"] == "private"
    again = inspector.get(form, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag and again.headers["cache-control"] == "private"
    assert "content-security-policy" in again.headers
    assert inspector.get(form, headers={"If-None-Match": f'W/"x", {tag}'}).status_code == 304
    # Another user's page differs (their id, their CSRF token): never their 304.
    theirs = other.get(form, headers={"If-None-Match": tag})
    assert theirs.status_code == 200 and theirs.headers["etag"] != tag
    # A draft changes as it is answered: the old tag gets the new page.
    page = inspections.page_address(draft)
    before = inspector.get(page).headers["etag"]
    assert inspector.get(page, headers={"If-None-Match": before}).status_code == 304
    item = items_by_key(session, region)["F1"]
    r = inspector.post(
        f"/inspections/{draft.client_uuid}/answers/{item.id}",
        data={f"result-{item.id}": "pass"},
        headers={**HX, **csrf(inspector)},
    )
    assert r.status_code == 200 and "etag" not in r.headers  # a POST answer has no tag
    changed = inspector.get(page, headers={"If-None-Match": before})
    assert changed.status_code == 200 and changed.headers["etag"] != before
    # Not a page: JSON keeps no-store and has no tag.
    pages = inspector.get("/sync/pages")
    assert "etag" not in pages.headers and pages.headers["cache-control"] == "no-store"


def test_every_write_is_addressed_by_client_uuid_and_replays_change_nothing(
    login_as, session, settings, region
):
    client, user = login_as("inspector")
    items = items_by_key(session, region)
    ref, r = queued_start(client, region)
    assert r.status_code == 200 and r.json()["location"] == f"/inspections/{r.json()['id']}"
    again = queued_start(client, region, client_uuid=ref)[1]  # the start replayed
    assert again.json()["id"] == r.json()["id"]
    assert len(session.exec(select(Inspection)).all()) == 1

    # The draft's page by the phone's id (before and after the server has it).
    page = client.get(f"/inspections/c/{ref}?v={region['template_version'].id}&site=1")
    assert page.status_code == 200 and f'data-ref="{ref}"' in page.text
    unknown = str(uuid.uuid4())
    blank = client.get(f"/inspections/c/{unknown}?v={region['template_version'].id}")
    assert blank.status_code == 200 and 'data-ref=""' in blank.text and "fieldset" in blank.text
    assert client.get(f"/inspections/c/{unknown}?v=999999").status_code == 404

    # Answers, as the outbox sends them: without the photo list, they leave the photos be.
    headers = {**HX, **csrf(client)}
    f1 = items["F1"].id
    answer = {f"result-{f1}": "fail", f"description-{f1}": "灭火器过期"}
    for _ in range(2):
        assert client.post(
            f"/inspections/{ref}/answers/{f1}", data=answer, headers=headers
        ).is_success
    photo = photos.ingest_bytes(session, settings, user, jpeg())
    attach = f"/inspections/{ref}/answers/{f1}/photos"
    for _ in range(2):
        r = client.post(attach, data={"photo_id": str(photo.id)}, headers={**JSON, **csrf(client)})
        assert r.status_code == 200 and "location" in r.json()
    assert client.post(f"/inspections/{ref}/answers/{f1}", data=answer, headers=headers).is_success
    assert len(session.exec(select(AnswerPhoto)).all()) == 1
    assert len(session.exec(select(Answer)).all()) == 1

    # Everything else, then the submit twice: one inspection, one hazard.
    for a in all_pass(items, F1={"result": "fail", "hazard_description": "灭火器过期"}):
        data = {
            f"{k}-{a['item_id']}": str(v)
            for k, v in (
                ("result", a.get("result")),
                ("value", a.get("value")),
                ("description", a.get("hazard_description")),
            )
            if v is not None
        }
        assert client.post(
            f"/inspections/{ref}/answers/{a['item_id']}", data=data, headers=headers
        ).is_success
    for _ in range(2):
        r = client.post(f"/inspections/{ref}/submit", data={}, headers={**JSON, **csrf(client)})
        assert r.status_code == 200 and r.json()["location"].endswith("/done"), r.text
    assert session.exec(select(Inspection)).one().status == "submitted"
    assert len(session.exec(select(Hazard)).all()) == 1
    assert len(session.exec(select(AnswerPhoto)).all()) == 1
    # Removing a photo is idempotent too (here refused: the inspection is submitted).
    r = client.post(attach, data={"remove": str(photo.id)}, headers={**JSON, **csrf(client)})
    assert r.status_code == 409 and "detail" in r.json()


def test_another_inspector_cannot_reach_a_draft_by_its_client_uuid(login_as, region, session):
    alice, _ = login_as("inspector")
    bob, _ = login_as("inspector")
    ref, r = queued_start(alice, region)
    assert r.is_success
    assert bob.get(f"/inspections/c/{ref}", headers=JSON).status_code == 404
    answer = bob.post(
        f"/inspections/{ref}/answers/{items_by_key(session, region)['F1'].id}",
        data={"x": "1"},
        headers={**HX, **csrf(bob)},
    )
    assert answer.status_code == 404


def test_offline_start_keeps_the_version_it_was_filled_on(login_as, session, region):
    client, _user = login_as("inspector")
    old = region["template_version"]
    spec = checklists.version_spec(session, old)
    spec["sections"][0]["items"][0]["prompt_zh"] += "（修订）"
    new = checklists.publish_spec(session, spec)
    session.commit()
    assert new.id != old.id
    ref, r = queued_start(client, region)  # filled offline on the old version
    assert r.is_success
    assert session.get(Inspection, r.json()["id"]).template_version_id == old.id
    # A version of another checklist, or one that does not exist, is refused.
    _, bad = queued_start(client, region, version_id="999999")
    assert bad.status_code == 404 and "detail" in bad.json()


def test_a_site_deactivated_while_offline_is_stored_and_flagged(login_as, api_as, session, region):
    client, user = login_as("inspector")
    site = session.get(Site, region["sites"][0].id)
    site.is_active = False
    session.add(site)
    session.commit()
    # Online, from a page: refused as before.
    _, online = queued_start(client, region, queued="")
    assert online.status_code == 422
    # From the phone's outbox: stored, and flagged for the office.
    ref, r = queued_start(client, region)
    assert r.is_success
    inspection = session.get(Inspection, r.json()["id"])
    assert inspection.flag == "site_inactive"
    office, _ = api_as("admin")
    assert office.get(f"/api/v1/inspections/{inspection.id}").json()["flag"] == "site_inactive"
    record = client.get(f"/inspections/{inspection.id}/record")
    assert "已标记" in record.text
