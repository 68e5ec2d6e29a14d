"""The photo pipeline (issue 3): upload, decode, orient, strip, store, dedupe, serve, authorise."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from sqlmodel import select

from inspect_app.domain import hazards, photos
from inspect_app.domain.errors import Invalid, TooLarge
from inspect_app.models import Answer, AnswerPhoto, HazardPhoto, Inspection, Photo
from tests.clients import csrf
from tests.clients import upload_photo as upload
from tests.factories import assert_refused, is_blue, is_red, no_metadata, stored_files
from tests.factories import first_item as _first_item
from tests.make_bad_files import (
    PAYLOAD,
    display_p3_icc,
    encode,
    genuine,
    phone_exif,
    phone_jpeg,
    scene,
    truncated,
)

pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")

PHONE_LAT, PHONE_LON = 26.8966667, 112.5719444


# --- the pipeline ------------------------------------------------------------------------------


def test_phone_jpeg_is_stored_upright_with_gps_and_time_as_data(api_as, session, settings):
    client, user = api_as("inspector")
    # Stored 2000x1500 landscape, EXIF orientation 6: the phone was held upright (portrait).
    r = upload(client, phone_jpeg((2000, 1500), orientation=6))
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"id", "width", "height", "sha256", "taken_at", "gps", "url", "thumb_url"}
    assert (body["width"], body["height"]) == (1500, 2000)
    assert body["gps"] == {"lat": PHONE_LAT, "lon": PHONE_LON}
    # 10:11:12 on a phone in the city's zone (UTC+8) is 02:11:12 UTC.
    assert body["taken_at"].startswith("2026-11-20T02:11:12")
    assert (
        body["url"] == f"/photos/{body['id']}"
        and body["thumb_url"] == f"/photos/{body['id']}/thumb"
    )

    web = client.get(body["url"])
    assert web.status_code == 200 and web.headers["content-type"] == "image/jpeg"
    assert "private" in web.headers["cache-control"]
    im = Image.open(io.BytesIO(web.content)).convert("RGB")
    assert im.size == (1200, 1600)  # long side settings.photo_web_size, portrait
    # The stored top-left red quarter is the displayed top-right after the quarter turn.
    assert (
        is_red(im.getpixel((1150, 50)))
        and is_blue(im.getpixel((50, 50)))
        and is_blue(im.getpixel((1150, 1500)))
    )
    no_metadata(web.content)

    thumb = client.get(body["thumb_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).size == (300, 400)
    no_metadata(thumb.content)

    photo = session.get(Photo, body["id"])
    assert photo.uploaded_by == user.id and photo.original_format == "JPEG"
    assert photo.gps_lat == PHONE_LAT and photo.taken_at.year == 2026


@pytest.mark.parametrize(
    "fmt, options",
    [
        ("PNG", {}),
        ("WEBP", {"quality": 80}),
        ("HEIF", {}),
        ("JPEG", {"quality": 85}),
    ],
)
def test_every_phone_format_is_accepted(api_as, settings, session, fmt, options):
    client, _user = api_as("inspector")
    data = encode(scene((900, 600)), fmt, phone_exif(orientation=1), **options)
    r = upload(client, data, name="whatever.bin", content_type="application/octet-stream")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["width"], body["height"]) == (900, 600)
    assert body["gps"] == {"lat": PHONE_LAT, "lon": PHONE_LON}  # EXIF in PNG/WebP/HEIC is read too
    web = client.get(body["url"])
    assert Image.open(io.BytesIO(web.content)).size == (900, 600)  # never upscaled
    no_metadata(web.content)
    assert session.get(Photo, body["id"]).original_format == fmt


@pytest.mark.parametrize(
    "im, fmt, expected",
    [
        (Image.new("I;16", (300, 200), 40000), "PNG", (156, 156, 156)),  # scaled, not clipped
        (scene((300, 200)).convert("CMYK"), "JPEG", (230, 20, 20)),
        (scene((300, 200)).convert("P"), "PNG", (224, 14, 15)),
        (scene((300, 200)).convert("1"), "PNG", (255, 255, 255)),
    ],
    ids=["16-bit-grey-png", "cmyk-jpeg", "palette-png", "bilevel-png"],
)
def test_unusual_pixel_modes_become_faithful_rgb(session, settings, make_user, im, fmt, expected):
    photo = photos.ingest_bytes(session, settings, make_user("inspector"), encode(im, fmt))
    web = Image.open(photos.path_for(settings, photo, "web"))
    assert web.mode == "RGB"
    pixel = web.getpixel((10, 10))
    assert all(abs(a - b) <= 12 for a, b in zip(pixel, expected, strict=True)), pixel


def test_transparency_is_flattened_on_white(api_as):
    client, _user = api_as("inspector")
    im = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    im.paste((20, 40, 220, 255), (100, 0, 200, 100))
    r = upload(client, encode(im, "PNG"), name="shot.png", content_type="image/png")
    assert r.status_code == 201, r.text
    web = Image.open(io.BytesIO(client.get(r.json()["url"]).content)).convert("RGB")
    assert min(web.getpixel((20, 50))) > 240 and is_blue(web.getpixel((180, 50)))


def test_wide_gamut_photo_is_converted_to_srgb(api_as):
    """An iPhone's Display P3 pixels would look dull once the profile is stripped: convert."""
    client, _user = api_as("inspector")
    im = Image.new("RGB", (64, 48), (200, 100, 50))
    r = upload(client, encode(im, "JPEG", icc_profile=display_p3_icc(), quality=95))
    assert r.status_code == 201, r.text
    web = client.get(r.json()["url"]).content
    no_metadata(web)
    pixel = Image.open(io.BytesIO(web)).convert("RGB").getpixel((32, 24))
    assert all(abs(a - b) <= 6 for a, b in zip(pixel, (216, 93, 24), strict=True)), pixel


def test_the_client_name_and_declared_format_are_not_trusted(api_as, settings):
    """A real PNG sent as photo.jpg/image/jpeg is stored by what its bytes are."""
    client, _user = api_as("inspector")
    r = upload(client, genuine("PNG"), name="photo.jpg", content_type="image/jpeg")
    assert r.status_code == 201
    names = [p.name for p in stored_files(settings)]
    assert all("photo" not in n for n in names)
    assert any(n.endswith(".png") for n in names)  # the kept original, named by its content


def test_same_bytes_are_stored_once(api_as, session, settings):
    a, _user_a = api_as("inspector")
    b, _user_b = api_as("officer")
    data = phone_jpeg((800, 600))
    first, again, other = upload(a, data), upload(a, data), upload(b, data)
    assert first.status_code == again.status_code == other.status_code == 201
    assert again.json()["id"] == first.json()["id"]  # the uploader's own row is reused
    assert other.json()["id"] != first.json()["id"]  # each uploader owns a row...
    assert other.json()["sha256"] == first.json()["sha256"]
    assert other.json()["width"] == 600 and other.json()["gps"] == first.json()["gps"]
    assert len(stored_files(settings)) == 3  # ...but the files exist once: web, thumb, original
    assert len(session.exec(select(Photo)).all()) == 2


def test_original_is_kept_privately_and_never_served(api_as, session, settings, monkeypatch):
    client, _user = api_as("inspector")
    data = phone_jpeg((800, 600))
    photo = session.get(Photo, upload(client, data).json()["id"])
    original = photos.path_for(settings, photo, "original")
    assert original.read_bytes() == data
    assert Path(settings.upload_dir) / "originals" in original.parents
    assert client.get(f"/photos/{photo.id}/original").status_code == 404

    monkeypatch.setattr(settings, "keep_originals", False)
    other = upload(client, phone_jpeg((640, 480))).json()
    assert not photos.path_for(settings, session.get(Photo, other["id"]), "original").exists()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_turned_upright_like_pillow_does(
    session, settings, make_user, orientation
):
    data = phone_jpeg((300, 200), orientation=orientation)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    photo = photos.ingest_bytes(session, settings, make_user("inspector"), data)
    web = Image.open(photos.path_for(settings, photo, "web")).convert("RGB")
    assert web.size == expected.size == (photo.width, photo.height)
    w, h = web.size
    for xy in ((5, 5), (w - 6, 5), (5, h - 6), (w - 6, h - 6)):
        assert is_red(web.getpixel(xy)) == is_red(expected.getpixel(xy)), (orientation, xy)


def test_draft_size_keeps_the_stored_aspect():
    assert photos.draft_size((4000, 3000), 1600) == (1600, 1200)
    assert photos.draft_size((3000, 4000), 1600) == (1200, 1600)
    assert photos.draft_size((800, 600), 1600) == (800, 600)


# --- the domain interface other areas call ------------------------------------------------


def test_ingest_bytes_and_file_objects(session, settings, make_user):
    user = make_user("inspector")
    data = phone_jpeg((640, 480), orientation=1)
    from_bytes = photos.ingest_bytes(session, settings, user, data)
    assert (from_bytes.width, from_bytes.height) == (640, 480)
    from_file = photos.ingest(
        session, settings, make_user("inspector"), io.BytesIO(data), "a.jpg", "image/jpeg"
    )
    assert from_file.sha256 == from_bytes.sha256 and from_file.id != from_bytes.id
    assert photos.photo_json(from_file)["gps"] == {"lat": PHONE_LAT, "lon": PHONE_LON}


def test_streamed_upload_stops_at_the_first_chunk_over_the_limit(
    session, settings, make_user, monkeypatch
):
    monkeypatch.setattr(settings, "max_upload_bytes", 250_000)
    sent = []

    def chunks():
        for i in range(100):
            sent.append(i)
            yield b"\xff\xd8\xff" + b"\x00" * 99_997

    with pytest.raises(TooLarge):
        photos.ingest(session, settings, make_user("inspector"), chunks(), "big.jpg", None)
    assert len(sent) == 3  # 300 kB read, not 10 MB
    assert stored_files(settings) == []


def test_owned_accepts_only_the_users_own_photos(session, settings, make_user):
    me, other = make_user("inspector"), make_user("inspector")
    mine = photos.ingest_bytes(session, settings, me, genuine("JPEG"))
    second = photos.ingest_bytes(session, settings, me, genuine("PNG"), "b.png")
    theirs = photos.ingest_bytes(session, settings, other, genuine("JPEG"))
    assert [p.id for p in photos.owned(session, me, [second.id, mine.id, second.id])] == [
        second.id,
        mine.id,
    ]
    assert photos.owned(session, me, []) == []
    with pytest.raises(Invalid, match=str(theirs.id)):
        photos.owned(session, me, [mine.id, theirs.id])
    with pytest.raises(Invalid, match="999999"):
        photos.owned(session, me, [999999])


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, name, content_type, status",
    [
        (b"just some text, not a photo", "photo.jpg", "image/jpeg", 415),
        (b"<html><script>alert(1)</script></html>", "photo.png", "image/png", 415),
        (genuine("JPEG"), "photo.jpg", "text/html", 415),
        (truncated(phone_jpeg((800, 600))), "photo.jpg", "image/jpeg", 422),
        (truncated(genuine("PNG")), "photo.png", "image/png", 422),
        (b"", "photo.jpg", "image/jpeg", 422),
        (genuine("JPEG"), "../../photo.jpg", "image/jpeg", 422),
        (genuine("JPEG"), "..\\..\\photo.jpg", "image/jpeg", 422),
    ],
    ids=[
        "text",
        "html",
        "declared-html",
        "truncated-jpeg",
        "truncated-png",
        "empty",
        "dotdot",
        "backslash",
    ],
)
def test_bad_input_is_refused_and_leaves_nothing(
    api_as, session, settings, data, name, content_type, status
):
    client, _user = api_as("inspector")
    assert_refused(upload(client, data, name, content_type), status, session, settings)


def test_decompression_bomb_is_refused_before_decoding(api_as, session, settings, monkeypatch):
    client, _user = api_as("inspector")
    monkeypatch.setattr(settings, "max_image_pixels", 1_000_000)
    r = upload(client, phone_jpeg((1001, 1000)))
    assert_refused(r, 413, session, settings)
    # Exact counts: rounded to megapixels this image would read "1 ...; the limit is 1".
    assert "1,001,000" in r.json()["detail"] and "1,000,000" in r.json()["detail"]


def test_over_the_byte_limit_is_refused(api_as, session, settings, monkeypatch):
    client, _user = api_as("inspector")
    monkeypatch.setattr(settings, "max_upload_bytes", 100_000)
    data = phone_jpeg((400, 300)) + b"\x00" * 200_000
    assert_refused(upload(client, data), 413, session, settings)


def test_chunked_body_over_the_limit_is_refused(api_as, session, settings, monkeypatch):
    """No Content-Length to trust: the bytes are counted as they stream in."""
    client, _user = api_as("inspector")
    monkeypatch.setattr(settings, "max_upload_bytes", 100_000)
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()

    def body():
        yield head
        for _ in range(10):
            yield b"\xff" * 50_000
        yield f"\r\n--{boundary}--\r\n".encode()

    r = client.post(
        "/api/v1/photos",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert_refused(r, 413, session, settings)


def test_the_request_must_be_multipart_with_a_file_field(api_as, session, settings):
    client, _user = api_as("inspector")
    assert_refused(client.post("/api/v1/photos", json={"file": "x"}), 415, session, settings)
    r = client.post("/api/v1/photos", files={"photo": ("a.jpg", genuine("JPEG"), "image/jpeg")})
    assert_refused(r, 422, session, settings)


def test_a_broken_multipart_body_is_refused(api_as, session, settings):
    client, _user = api_as("inspector")
    head = b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
    for body in (b"garbage without any boundary", head + genuine("JPEG")[:500] + b"\r\n--yy--"):
        r = client.post(
            "/api/v1/photos",
            content=body,
            headers={"content-type": "multipart/form-data; boundary=xx"},
        )
        assert_refused(r, 422, session, settings)


def test_upload_needs_sign_in_and_the_csrf_header_for_cookie_sessions(
    client, login_as, session, settings
):
    r = client.post(
        "/api/v1/photos", headers={"x-csrftoken": "x"}, files={"file": ("a.jpg", genuine("JPEG"))}
    )
    assert r.status_code in (401, 403)
    browser, _user = login_as("inspector")
    assert upload(browser, genuine("JPEG"), headers=csrf(browser)).status_code == 201


def test_cookie_upload_without_csrf_header_is_refused(login_as, session, settings):
    browser, _user = login_as("inspector")
    assert_refused(upload(browser, genuine("JPEG")), 403, session, settings)


def test_no_js_form_upload_with_the_token_field_first_is_accepted(login_as):
    """A plain HTML form: the hidden csrftoken field comes before the file field."""
    browser, _user = login_as("inspector")
    token = browser.cookies.get("csrftoken")
    r = browser.post(
        "/api/v1/photos", data={"csrftoken": token}, files={"file": ("a.jpg", genuine("JPEG"))}
    )
    assert r.status_code == 201, r.text


def test_form_upload_with_the_file_before_the_token_is_checked_all_the_same(
    login_as, session, settings
):
    """A no-JS form may send the file before the token: the CSRF layer reads up to the token
    (spooling the file), refuses a wrong one with nothing stored, and lets the right one through."""
    browser, _user = login_as("inspector")
    boundary = "XyZboundary"

    def body(token: str) -> bytes:
        return (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n".encode()
            + genuine("JPEG")
            + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="csrftoken"\r\n\r\n{token}'
            f"\r\n--{boundary}--\r\n".encode()
        )

    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    wrong = browser.post("/api/v1/photos", content=body("not-the-token"), headers=headers)
    assert_refused(wrong, 403, session, settings)
    right = browser.post(
        "/api/v1/photos", content=body(csrf(browser)["x-csrftoken"]), headers=headers
    )
    assert right.status_code == 201, right.text


# --- who may see a photo ----------------------------------------------------------------------


def test_photos_are_served_only_to_those_who_may_see_them(api_as, session, region):
    inspector, author = api_as("inspector")
    peer, _ = api_as("inspector")
    officer_here, officer = api_as("officer")
    officer_there, _ = api_as("officer", "珠晖区")
    office, _ = api_as("office")
    admin, _ = api_as("admin")
    photo_id = upload(inspector, phone_jpeg((800, 600))).json()["id"]

    def visible(c) -> bool:
        web, thumb = c.get(f"/photos/{photo_id}"), c.get(f"/photos/{photo_id}/thumb")
        assert web.status_code == thumb.status_code
        assert web.status_code in (200, 404)
        return web.status_code == 200

    # Not yet part of anything: only its author (and admin, who also sees drafts).
    assert [visible(c) for c in (inspector, peer, officer_here, officer_there, office, admin)] == [
        True,
        False,
        False,
        False,
        False,
        True,
    ]

    site = region["sites"][0]  # in 蒸湘区
    hazards.create_hazard(
        session, reporter=author, site=site, grade="general", description="d", photo_ids=[photo_id]
    )
    session.commit()
    assert [visible(c) for c in (peer, officer_here, officer_there, office)] == [
        False,
        True,
        False,
        True,
    ]

    # The officer's rectification photo is visible to the inspector who reported the hazard.
    hazard_id = session.exec(select(HazardPhoto.hazard_id)).one()
    after_id = upload(officer_here, genuine("JPEG")).json()["id"]
    session.add(
        HazardPhoto(hazard_id=hazard_id, photo_id=after_id, kind="rectification", position=0)
    )
    session.commit()
    assert inspector.get(f"/photos/{after_id}").status_code == 200
    assert peer.get(f"/photos/{after_id}").status_code == 404
    assert officer.id and officer_there.get(f"/photos/{after_id}").status_code == 404


def test_officer_sees_photos_of_inspections_in_their_district_once_submitted(
    api_as, session, region
):
    inspector, author = api_as("inspector", "珠晖区")
    officer_there, _ = api_as("officer", "珠晖区")
    officer_here, _ = api_as("officer")
    office, _ = api_as("office")
    peer, _ = api_as("inspector", "珠晖区")
    photo_id = upload(inspector, genuine("JPEG")).json()["id"]
    signature_id = upload(inspector, genuine("PNG"), "sig.png", "image/png").json()["id"]
    inspection = Inspection(
        client_uuid="u-1",
        template_version_id=region["template_version"].id,
        site_id=region["sites"][2].id,
        inspector_id=author.id,
        signature_photo_id=signature_id,
    )
    session.add(inspection)
    session.flush()
    answer = Answer(
        inspection_id=inspection.id, item_id=_first_item(session, region).id, result="fail"
    )
    session.add(answer)
    session.flush()
    session.add(AnswerPhoto(answer_id=answer.id, photo_id=photo_id))
    session.commit()

    def seen(c, pid) -> bool:
        codes = {c.get(f"/photos/{pid}").status_code, c.get(f"/photos/{pid}/thumb").status_code}
        assert len(codes) == 1 and codes <= {200, 404}
        return codes == {200}

    # A draft's photos and signature are its inspector's alone until it is submitted.
    for pid in (photo_id, signature_id):
        assert [seen(c, pid) for c in (inspector, officer_there, office, peer)] == [
            True,
            False,
            False,
            False,
        ]
    inspection.status = "submitted"
    session.add(inspection)
    session.commit()
    for pid in (photo_id, signature_id):
        assert [seen(c, pid) for c in (officer_there, office, peer)] == [True, True, False]
        assert officer_here.get(f"/photos/{pid}").status_code == 404


def test_unknown_photo_and_anonymous_requests(api_as, client):
    c, _user = api_as("office")
    assert c.get("/photos/424242").status_code == 404
    assert c.get("/photos/424242/thumb").status_code == 404
    r = client.get("/photos/1")
    assert r.status_code == 401 and "detail" in r.json()
    page = client.get("/photos/1", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_served_copies_carry_no_payload_of_a_polyglot(api_as):
    client, _user = api_as("inspector")
    r = upload(client, genuine("JPEG") + PAYLOAD)
    assert r.status_code == 201
    no_metadata(client.get(r.json()["url"]).content)


def test_same_bytes_from_the_same_user_at_once_are_one_row(engine, settings, make_user):
    """A phone retrying an upload while the first is still running: one photo, not two."""
    import threading

    from sqlmodel import Session

    user = make_user("inspector")
    data = genuine("JPEG")
    barrier = threading.Barrier(4)
    results, errors = [], []

    def upload_once():
        with Session(engine, expire_on_commit=False) as s:
            barrier.wait()
            try:
                results.append(photos.ingest_bytes(s, settings, user, data).id)
            except Exception as exc:  # collected: the assertion below names it
                errors.append(exc)

    threads = [threading.Thread(target=upload_once) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1
    with Session(engine) as s:
        assert len(s.exec(select(Photo).where(Photo.uploaded_by == user.id)).all()) == 1
