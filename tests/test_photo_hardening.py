"""Issue 12, photos: damaged images are refused whole, the decode memory budget, incomplete and
abandoned uploads. (Who may see a draft's photos: tests/test_photos.py.)"""

from __future__ import annotations

import io
import socket
import threading
import time

import pytest
from PIL import Image, ImageFile
from sqlmodel import select

from inspect_app.domain import photos
from inspect_app.domain.decode_budget import DecodeBudget, budget_for
from inspect_app.domain.errors import Busy, Invalid
from inspect_app.main import create_app
from tests.make_bad_files import (
    UPRIGHT,
    camera_corpus,
    encode,
    genuine,
    heic_cut_short,
    heic_grid,
    png_damaged_data,
    scene,
)
from tests.reliability import Server, api_token
from tests.test_photos import assert_refused, is_red, stored_files, upload

pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")


# --- damaged images ------------------------------------------------------------------------------


def test_png_with_corrupt_pixel_data_is_refused(api_as, session, settings):
    """The EXIF read used to decode the image and swallow the error; the later load then kept
    the partial pixels and stored them as a photo."""
    data = png_damaged_data()
    with Image.open(io.BytesIO(data)) as im, pytest.raises(OSError):
        im.load()  # the sample really is damaged
    client, _user = api_as("inspector")
    r = upload(client, data, "photo.png", "image/png")
    assert_refused(r, 422, session, settings)


def test_cut_heic_is_refused_by_its_item_locations(tmp_path, api_as, session, settings):
    whole = heic_grid()
    (tmp_path / "whole.heic").write_bytes(whole)
    photos.check_heif_items(tmp_path / "whole.heic")  # a whole grid passes
    for keep in (0.2, 0.6, 0.95, 0.999):
        cut = tmp_path / f"cut-{keep}.heic"
        cut.write_bytes(heic_cut_short(whole, keep))
        with pytest.raises(Invalid):
            photos.check_heif_items(cut)
    client, _user = api_as("inspector")
    assert upload(client, whole, "IMG.HEIC", "image/heic").status_code == 201
    session.rollback()
    r = upload(client, heic_cut_short(whole), "IMG_2.HEIC", "image/heic")
    assert r.status_code == 422 and r.json()["detail"]


def test_truncation_tolerance_is_never_on(monkeypatch, session, settings, make_user):
    """Pillow's LOAD_TRUNCATED_IMAGES would store half a photo: the pipeline refuses to run."""
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        photos.ingest_bytes(session, settings, make_user("inspector"), genuine("PNG"))
    assert stored_files(settings) == []


def _multipart(data: bytes, boundary: str = "b0undary") -> tuple[bytes, dict[str, str]]:
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode() + data
    return body, {"content-type": f"multipart/form-data; boundary={boundary}"}


@pytest.mark.parametrize(
    "ending",
    [b"", b"\r\n", b"\r\n--b0undary", b"\r\n--b0undary-"],
    ids=["no-boundary", "crlf", "boundary-without-end", "half-end"],
)
def test_a_body_cut_before_its_closing_boundary_is_refused(
    api_as, session, settings, ending: bytes
):
    """The whole JPEG arrived, the closing boundary did not: the body is incomplete, so is the
    file (the part could have gone on)."""
    client, _user = api_as("inspector")
    body, headers = _multipart(genuine("JPEG") + ending)
    r = client.post("/api/v1/photos", content=body, headers=headers)
    assert_refused(r, 422, session, settings)
    assert r.json()["detail"].startswith(("The upload is incomplete", "上传不完整"))
    whole, headers = _multipart(genuine("JPEG") + b"\r\n--b0undary--\r\n")
    assert client.post("/api/v1/photos", content=whole, headers=headers).status_code == 201


# --- the decode budget ---------------------------------------------------------------------------


def test_budget_waits_then_refuses_and_never_exceeds_its_capacity():
    budget = DecodeBudget(100)
    with budget.reserve(60, wait=0):
        start = time.monotonic()
        with pytest.raises(Busy) as refused, budget.reserve(50, wait=0.2):
            pass
        assert time.monotonic() - start >= 0.19
        assert refused.value.status_code == 503 and refused.value.headers["Retry-After"]
        with budget.reserve(40, wait=0):  # what is left is still there
            assert budget.held == 100
    assert budget.held == 0

    # A waiting decode starts as soon as another ends.
    order = []
    hold = threading.Event()

    def first():
        with budget.reserve(80, wait=0):
            order.append("first")
            hold.wait(5)

    t = threading.Thread(target=first)
    t.start()
    while not order:
        time.sleep(0.01)
    threading.Timer(0.2, hold.set).start()
    with budget.reserve(80, wait=5):
        order.append("second")
    t.join()
    assert order == ["first", "second"] and budget.peak <= 100

    # Dearer than the whole budget: runs alone rather than never.
    with budget.reserve(10_000, wait=0):
        assert budget.held == 100


def test_uploads_past_the_budget_get_503_with_retry_after(settings, make_user, session):
    """While other decodes hold the budget an upload waits briefly, then 503 + Retry-After, JSON
    detail, nothing stored; once the budget is free the same upload goes through."""
    tuned = settings.model_copy(update={"decode_budget_mb": 7, "decode_wait_seconds": 0.3})
    from fastapi.testclient import TestClient

    user = make_user("inspector")
    token = api_token(session, settings, user)
    client = TestClient(create_app(tuned), headers={"Authorization": f"Bearer {token}"})
    budget = budget_for(7 * 2**20)
    data = encode(scene((1000, 800)), "PNG")  # about 4 MB of pixels: more than the 3 MB left
    with budget.reserve(4 * 2**20, wait=0):
        r = upload(client, data, "p.png", "image/png")
        assert r.status_code == 503 and int(r.headers["retry-after"]) > 0
        assert r.json()["detail"]
        assert stored_files(settings) == []
    assert upload(client, data, "p.png", "image/png").status_code == 201
    assert budget.held == 0 and budget.peak <= budget.capacity


def test_decode_cost_counts_pixel_memory_and_draft():
    """A JPEG's draft decode is reserved at its reduced size; PNG at full size, 4 bytes for RGBA."""
    big = encode(scene((4000, 3000)), "JPEG", quality=70)
    with Image.open(io.BytesIO(big)) as im:
        im.draft("RGB", photos.draft_size(im.size, 1600))
        assert im.size == (2000, 1500)
        cost = photos.decode_cost(im, "JPEG", photos.shrink_factor(im.size, 1600))
        assert cost == 2000 * 1500 * 4 * 2  # factor 1: the RGB copy is full size too
    rgba = Image.new("RGBA", (8000, 6000))
    assert photos.shrink_factor(rgba.size, 1600) == 2
    assert photos.decode_cost(rgba, "PNG", 2) == 8000 * 6000 * 4 + 4000 * 3000 * 4


def test_shrinking_by_strips_matches_a_whole_image_reduce():
    im = Image.effect_noise((1000, 700), 60).convert("RGBA")
    im.putalpha(Image.linear_gradient("L").resize(im.size))
    by_strips = photos._shrink(im, 3)
    whole = photos._flatten(im).reduce(3)
    assert by_strips.size == whole.size == (334, 234)
    diff = max(abs(a - b) for a, b in zip(by_strips.tobytes(), whole.tobytes(), strict=True))
    assert diff <= 2  # flatten-then-reduce per strip vs whole: rounding only


# --- a client that goes away ---------------------------------------------------------------------


def test_a_client_that_disconnects_mid_upload_is_one_log_line(
    tmp_path, settings, session, make_user
):
    """The real server, a real socket closed halfway through the body: one warning line, no
    traceback, nothing left in the upload folder."""
    token = api_token(session, settings, make_user("inspector"))
    session.close()  # no transaction of this test may hold up the server's migration check
    server = Server(settings, tmp_path)
    server.start(timeout=120)  # a loaded machine imports slowly
    try:
        body, headers = _multipart(genuine("JPEG", (1600, 1200)) + b"\r\n--b0undary--\r\n")
        request = (
            f"POST /api/v1/photos HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: {headers['content-type']}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(request + body[: len(body) // 2])
            time.sleep(0.5)
        deadline = time.monotonic() + 10
        while "disconnected" not in server.log_tail() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.stop()
    log = server.log_tail()
    assert "client disconnected during POST /api/v1/photos" in log, log
    assert "Traceback" not in log and "ClientDisconnect" not in log, log
    assert not [p for p in stored_files(settings) if p.parent.name == "tmp" or "photos" in p.parts]


# --- generated camera files ----------------------------------------------------------------------


def _decodes_completely(data: bytes) -> bool:
    """The oracle: a strict full decode by Pillow (truncation tolerance off) succeeds."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except Exception:  # any decoder failure
        return False
    return True


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_generated_camera_files_are_stored_upright_and_whole_or_refused(api_as, settings, fmt):
    """Every EXIF orientation, odd pixel modes, cuts at many offsets and bit flips in the
    compressed data: each upload is stored upright and complete, or refused with a 4xx and
    leaves nothing; never a 5xx."""
    client, _user = api_as("inspector")
    wrong = []
    for name, data, expect in camera_corpus(fmt):
        before = stored_files(settings)
        r = upload(client, data, f"{name}.bin", "application/octet-stream")
        if r.status_code != 201:
            if expect != "any" or not 400 <= r.status_code < 500:
                wrong.append(f"{name}: {r.status_code} {r.text[:200]} (expected {expect})")
            elif stored_files(settings) != before:
                wrong.append(f"{name}: refused but left files")
            continue
        body = r.json()
        if expect == "any" and not _decodes_completely(data):
            wrong.append(f"{name}: accepted, but the file does not decode completely")
        web = Image.open(io.BytesIO(client.get(body["url"]).content))
        web.load()  # the served copy is a whole JPEG
        if web.size != (body["width"], body["height"]):
            wrong.append(f"{name}: served {web.size}, recorded {body['width']}x{body['height']}")
        if expect in ("upright", "whole") and web.size != UPRIGHT:
            wrong.append(f"{name}: size {web.size}, expected {UPRIGHT}")
        if expect == "upright":
            rgb = web.convert("RGB")
            w, h = rgb.size
            corners = [is_red(rgb.getpixel(xy)) for xy in ((5, 5), (w - 6, 5), (5, h - 6))]
            if corners != [True, False, False]:
                wrong.append(f"{name}: not upright (red corners {corners})")
    assert not wrong, "\n".join(wrong)


def test_a_plain_form_cut_before_its_closing_boundary_is_refused(
    login_as, session, settings, region
):
    """The no-JavaScript photo form: the token first, then the photo, then nothing (the phone
    lost its signal). Without the close delimiter the form is incomplete: 422, nothing stored."""
    import uuid

    from inspect_app.domain import inspections
    from inspect_app.models import Photo
    from tests.test_photos import _first_item

    browser, user = login_as("inspector")
    draft = inspections.start_draft(
        session, user, region["sites"][0].id, region["template_id"], str(uuid.uuid4())
    )
    item = _first_item(session, region)
    token = browser.cookies.get("csrftoken")
    boundary = "formB0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrftoken"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode() + genuine("JPEG")
    url = f"/inspections/{draft.id}/answers/{item.id}/photos"
    headers = {"content-type": f"multipart/form-data; boundary={boundary}", "accept": "text/html"}
    for cut in (head, head + f"\r\n--{boundary}".encode()):
        r = browser.post(url, content=cut, headers=headers, follow_redirects=False)
        assert r.status_code == 422, r.text[:300]
        session.expire_all()
        assert session.exec(select(Photo)).all() == []
        assert [p for p in stored_files(settings) if "photos" in p.parts] == []
    whole = head + f"\r\n--{boundary}--\r\n".encode()
    r = browser.post(url, content=whole, headers=headers, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    session.expire_all()
    assert len(session.exec(select(Photo)).all()) == 1


def test_the_upload_route_documents_its_503(client):
    responses = client.get("/openapi.json").json()["paths"]["/api/v1/photos"]["post"]["responses"]
    assert "Retry-After" in responses["503"]["headers"]


def test_decoders_that_copy_are_charged_for_their_copies():
    im = Image.new("RGBA", (1000, 1000))
    png, webp = (photos.decode_cost(im, fmt, 1) for fmt in ("PNG", "WEBP"))
    assert webp - png == 2 * 1000 * 1000 * 4
