"""Page forms with files are bounded while they are read, not after."""

from fastapi.testclient import TestClient

from inspect_app.main import create_app
from tests.clients import login


def small_limit_client(settings, make_user):
    app = create_app(settings.model_copy(update={"max_upload_bytes": 10_000}))
    client = TestClient(app)
    login(client, make_user("officer").username)
    return client


def test_declared_oversized_form_is_refused_before_reading(settings, make_user):
    client = small_limit_client(settings, make_user)
    r = client.post(
        "/hazards/1/rectify",
        headers={"x-csrftoken": client.cookies["csrftoken"]},
        files={"photos": ("a.jpg", b"\xff\xd8" + b"0" * 40_000)},
        data={"note": "done"},
    )
    assert r.status_code == 413


def test_form_without_declared_length_is_refused_past_the_limit(settings, make_user):
    client = small_limit_client(settings, make_user)

    def body():  # chunked: no Content-Length to trust, so the bytes are counted as they come
        for _ in range(100):
            yield b"x" * 1000

    r = client.post(
        "/hazards/1/rectify",
        content=body(),
        headers={
            "x-csrftoken": client.cookies["csrftoken"],
            "content-type": "application/x-www-form-urlencoded",
        },
    )
    assert r.status_code == 413
    assert not list(settings.upload_dir.rglob("*.jpg"))
