"""Hazards reported on their own (随手拍): POST /api/v1/hazards (idempotent on client_uuid), the
phone page as a plain multipart form, the same loop, events and authorisation."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlmodel import func, select

from inspect_app.models import Hazard, HazardEvent, HazardPhoto, Photo
from tests.clients import csrf, form_token
from tests.factories import jpeg_bytes


def body(site_id: int, **extra) -> dict:
    return {
        "client_uuid": str(uuid.uuid4()),
        "site_id": site_id,
        "grade": "major",
        "category": "消防安全",
        "description": "配电箱前堆放易燃纸箱",
        "location": {"lat": 26.8969, "lon": 112.5720},
        "photo_ids": [],
        **extra,
    }


def counts(session) -> tuple[int, int, int]:
    session.expire_all()
    return tuple(
        session.exec(select(func.count()).select_from(t)).one()
        for t in (Hazard, HazardEvent, HazardPhoto)
    )


def test_report_then_retry_returns_the_same_hazard(api_as, session, region):
    c, inspector = api_as("inspector", "蒸湘区")
    photo = c.post("/api/v1/photos", files={"file": ("a.jpg", jpeg_bytes(1), "image/jpeg")})
    assert photo.status_code == 201, photo.text
    payload = body(region["sites"][0].id, photo_ids=[photo.json()["id"]])
    first = c.post("/api/v1/hazards", json=payload)
    assert first.status_code == 201, first.text
    h = first.json()
    assert h["inspection_id"] is None and h["item_id"] is None
    assert (h["grade"], h["status"], h["category"]) == ("major", "reported", "消防安全")
    assert h["site"]["name"] == "蒸湘化工仓库" and h["district"]["name"] == "蒸湘区"
    assert h["location"] == {"lat": 26.8969, "lon": 112.572}
    assert [p["id"] for p in h["photos"]] == [photo.json()["id"]]
    assert [e["action"] for e in h["events"]] == ["created"]
    assert counts(session) == (1, 1, 1)

    again = c.post("/api/v1/hazards", json=payload)
    assert again.status_code == 200
    assert again.json()["id"] == h["id"]
    assert counts(session) == (1, 1, 1)  # nothing new

    # Someone else's client_uuid is refused, nothing written.
    other, _ = api_as("inspector", "蒸湘区")
    assert other.post("/api/v1/hazards", json=payload).status_code == 409
    assert counts(session) == (1, 1, 1)

    # The reporter sees it; the district's officer sees it and runs the same loop.
    assert c.get(f"/api/v1/hazards/{h['id']}").status_code == 200
    officer, _ = api_as("officer", "蒸湘区")
    listed = officer.get("/api/v1/hazards", params={"status": "open"}).json()
    assert [x["id"] for x in listed["items"]] == [h["id"]]
    plan = {
        "responsible_person": "张三",
        "measures": "清理纸箱",
        "deadline": (date.today() + timedelta(days=5)).isoformat(),
        "rectifier": "李四",
        "acceptor": "王五",
        "funds": "500 元",
        "interim_measures": "设置警示",
        "stop_production": False,
    }
    r = officer.post(f"/api/v1/hazards/{h['id']}/plan", json=plan)
    assert r.status_code == 200 and r.json()["status"] == "rectifying"
    outsider, _ = api_as("officer", "珠晖区")
    assert outsider.get(f"/api/v1/hazards/{h['id']}").status_code == 404


def test_bad_reports_change_nothing(api_as, session, region):
    c, _ = api_as("inspector", "蒸湘区")
    chem, market, machine = region["sites"]
    market.is_active = False
    session.add(market)
    session.commit()
    stranger_photo = api_as("inspector", "蒸湘区")[0].post(
        "/api/v1/photos", files={"file": ("b.jpg", jpeg_bytes(2), "image/jpeg")}
    )
    cases = [
        (body(999999), 422),  # unknown site
        (body(market.id), 422),  # inactive site
        (body(machine.id), 403),  # another district's site
        (body(chem.id, grade="severe"), 422),
        (body(chem.id, description=""), 422),
        (body(chem.id, description="配电箱\x00前"), 422),  # NUL: PostgreSQL cannot store it
        (body(chem.id, client_uuid=""), 422),
        (body(chem.id, location={"lat": 95, "lon": 0}), 422),
        (body(chem.id, photo_ids=[stranger_photo.json()["id"]]), 422),  # not one's own photo
    ]
    for payload, status in cases:
        r = c.post("/api/v1/hazards", json=payload)
        assert r.status_code == status, (payload, r.text)
        assert "detail" in r.json()
    assert counts(session) == (0, 0, 0)
    # A retry of a refused report is judged again, not answered from a cache.
    fixed = body(chem.id)
    assert c.post("/api/v1/hazards", json={**fixed, "grade": "bad"}).status_code == 422
    assert c.post("/api/v1/hazards", json=fixed).status_code == 201


def test_office_reports_anywhere(api_as, region):
    c, _ = api_as("office")
    r = c.post("/api/v1/hazards", json=body(region["sites"][2].id, location=None))
    assert r.status_code == 201
    # Without a location the hazard sits at its site.
    assert r.json()["location"] == {"lat": 26.8984, "lon": 112.615}


def test_phone_page_reports_with_a_photo_without_javascript(login_as, session, region):
    c, inspector = login_as("inspector", "蒸湘区")
    page = c.get("/hazards/new", params={"site_id": region["sites"][0].id})
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text
    assert "珠晖机械厂" not in page.text  # only the sites of the inspector's district
    token = form_token(page.text)
    client_uuid = str(uuid.uuid4())
    data = {
        "csrftoken": token,
        "client_uuid": client_uuid,
        "site_id": str(region["sites"][0].id),
        "grade": "general",
        "category": "",
        "description": "安全出口指示灯不亮",
        "lat": "",
        "lon": "",
    }
    files = {"files": ("p.jpg", jpeg_bytes(3), "image/jpeg")}
    r = c.post("/hazards/new", data=data, files=files, follow_redirects=False)
    assert r.status_code == 303, r.text
    hazard_id = int(r.headers["location"].rsplit("/", 1)[1])
    hazard = session.get(Hazard, hazard_id)
    assert hazard.description == "安全出口指示灯不亮" and hazard.reporter_id == inspector.id
    assert counts(session) == (1, 1, 1)
    assert c.get(f"/hazards/{hazard_id}").status_code == 200
    # A double tap: the same form again leads to the same hazard.
    r = c.post("/hazards/new", data=data, files=files, follow_redirects=False)
    assert r.headers["location"] == f"/hazards/{hazard_id}"
    assert counts(session) == (1, 1, 1)
    assert session.exec(select(func.count()).select_from(Photo)).one() == 1


def test_phone_page_shows_errors_and_keeps_the_input(login_as, session, region):
    c, _ = login_as("inspector", "蒸湘区")
    headers = csrf(c)

    def post(files=None, **fields):
        data = {
            "csrftoken": headers["x-csrftoken"],
            "client_uuid": str(uuid.uuid4()),
            "site_id": str(region["sites"][0].id),
            "grade": "general",
            "description": "配电箱前堆放易燃纸箱",
            **fields,
        }
        return c.post("/hazards/new", data=data, files=files, headers=headers)

    r = post(description="", category="电气")
    assert r.status_code == 422
    assert "field-error" in r.text and 'value="电气"' in r.text
    # Odd numerals (the class of #12): refused in words on the page, never a 500.
    for odd in ({"site_id": "²"}, {"photo_ids": "¹"}, {"site_id": "99999999999999999999"}):
        r = post(**odd)
        assert r.status_code == 422 and 'role="alert"' in r.text, (odd, r.text[:300])
    # A file that is not an image, sent with the form (no JavaScript): the form again with the
    # reason and what was typed (it was a 500 page).
    r = post(grade="major", files={"files": ("notes.jpg", b"not a photo", "image/jpeg")})
    assert r.status_code == 415 and 'role="alert"' in r.text
    assert "配电箱前堆放易燃纸箱" in r.text and 'value="major" checked' in r.text
    assert counts(session) == (0, 0, 0)
    assert session.exec(select(func.count()).select_from(Photo)).one() == 0
