"""The CSRF layer (inspect_app/middleware.py): what counts as a bearer request, the token bound
to the session, Origin/Referer, bodies it must read (urlencoded, multipart in any order and with
any boundary spelling), malformed bodies; and bearer tokens that can be revoked and expire."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from inspect_app.models import AuthSession, utcnow
from inspect_app.security import SESSION_COOKIE
from tests.conftest import PASSWORD, csrf, login
from tests.test_security import assert_security_headers


def _signed_in(app, make_user, role="office"):
    user = make_user(role)
    client = TestClient(app)
    login(client, user.username)
    return client, user


def _still_signed_in(client) -> bool:
    return client.get("/api/v1/districts").status_code == 200


def _token(client, user) -> str:
    r = client.post("/api/v1/auth/token", data={"username": user.username, "password": PASSWORD})
    assert r.status_code == 200
    return r.json()["access_token"]


def test_an_empty_or_invalid_bearer_does_not_skip_the_check(app, make_user):
    client, _user = _signed_in(app, make_user)
    for auth in ("Bearer ", "Bearer    ", "Bearer forged", "bearer x", "Basic Zm9vOmJhcg=="):
        r = client.post("/logout", headers={"Authorization": auth}, follow_redirects=False)
        assert r.status_code == 403, auth
        assert _still_signed_in(client), auth


def test_a_valid_bearer_needs_no_csrf_token_and_runs_as_its_owner(app, make_user):
    client, _office = _signed_in(app, make_user)
    inspector = make_user("inspector")
    token = _token(client, inspector)
    r = client.delete("/api/v1/auth/token", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204
    assert _still_signed_in(client)  # the cookie's session was not touched


def test_the_token_is_bound_to_the_session(app, make_user):
    alice, _ = _signed_in(app, make_user)
    bob, _ = _signed_in(app, make_user)
    bobs = csrf(bob)
    assert csrf(alice) != bobs
    assert alice.post("/logout", headers=bobs, follow_redirects=False).status_code == 403
    assert _still_signed_in(alice)
    assert alice.post("/logout", headers=csrf(alice), follow_redirects=False).status_code == 303


def test_the_token_rotates_at_sign_in_and_sign_out(app, make_user):
    user = make_user("office")
    with TestClient(app) as client:
        client.get("/login")
        before = csrf(client)
        login(client, user.username)
        after = csrf(client)
        assert after != before
        assert client.post("/logout", headers=before, follow_redirects=False).status_code == 403
        login(client, user.username)  # signing in again rotates it again
        again = csrf(client)
        assert again != after
        assert client.post("/logout", headers=after, follow_redirects=False).status_code == 403
        assert client.post("/logout", headers=again, follow_redirects=False).status_code == 303
        assert csrf(client) not in (before, after, again)


def test_pages_offer_the_token_to_scripts(app, make_user):
    client, _ = _signed_in(app, make_user)
    r = client.get("/dashboard", headers={"accept": "text/html"})
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', r.text).group(1)
    hx = re.search(r'hx-headers=\'\{"x-csrftoken": "([^"]+)"\}\'', r.text).group(1)
    assert meta == hx == r.headers["x-csrftoken"] == client.cookies["csrftoken"]
    # Any answer to the signed-in browser carries it (a service worker can read it there).
    assert client.get("/healthz").headers["x-csrftoken"] == meta
    r = client.post("/logout", headers={"X-CSRFToken": meta}, follow_redirects=False)
    assert r.status_code == 303
    assert not _still_signed_in(client)


@pytest.mark.parametrize(
    "origin",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://testserver.evil.example"},
        {"Referer": "https://evil.example/page"},
    ],
)
def test_a_foreign_origin_is_refused_even_with_the_token(app, make_user, origin):
    client, _ = _signed_in(app, make_user)
    r = client.post("/logout", headers={**csrf(client), **origin}, follow_redirects=False)
    assert r.status_code == 403
    assert _still_signed_in(client)


@pytest.mark.parametrize(
    "origin",
    [
        {"Origin": "http://testserver"},
        {"Origin": "http://testserver:80"},
        {"Referer": "http://testserver/dashboard"},
    ],
)
def test_our_own_origin_passes(app, make_user, origin):
    client, _ = _signed_in(app, make_user)
    r = client.post("/logout", headers={**csrf(client), **origin}, follow_redirects=False)
    assert r.status_code == 303


def test_the_sign_in_form_is_still_protected_and_works(app, make_user):
    user = make_user("office")
    with TestClient(app) as client:
        page = client.get("/login")
        token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
        data = {"username": user.username, "password": PASSWORD}
        assert client.post("/login", data=data, follow_redirects=False).status_code == 403
        forged = {**data, "csrftoken": token[:-2] + "xx"}
        assert client.post("/login", data=forged, follow_redirects=False).status_code == 403
        ok = client.post("/login", data={**data, "csrftoken": token}, follow_redirects=False)
        assert ok.status_code == 303 and SESSION_COOKIE in client.cookies


def test_a_form_in_chinese_is_read(app, make_user):
    client, _ = _signed_in(app, make_user)
    data = {"note": "整改完成 ✓ %zz", "csrftoken": csrf(client)["x-csrftoken"], "x": ""}
    assert client.post("/logout", data=data, follow_redirects=False).status_code == 303


def _multipart(boundary: str, parts: list[tuple[str, str | None, bytes]]) -> bytes:
    out = b""
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_multipart_forms_are_read_whatever_the_field_order_and_boundary_spelling(app, make_user):
    """A no-JS form may put the token after a large file; the boundary may be quoted or follow
    the semicolon without a space. The app then gets the body intact."""
    for content_type in (
        "multipart/form-data; boundary=XyZ123",
        "multipart/form-data;boundary=XyZ123",
        'multipart/form-data; boundary="XyZ123"',
    ):
        client, _ = _signed_in(app, make_user)
        body = _multipart(
            "XyZ123",
            [("file", "big.bin", b"\xff" * (3 * 1024 * 1024)), ("csrftoken", None, b"")],
        ).replace(
            b'name="csrftoken"\r\n\r\n',
            b'name="csrftoken"\r\n\r\n' + csrf(client)["x-csrftoken"].encode(),
        )
        r = client.post(
            "/logout", content=body, headers={"content-type": content_type}, follow_redirects=False
        )
        assert r.status_code == 303, (content_type, r.text)
        assert not _still_signed_in(client)


def test_the_app_receives_the_whole_body_after_the_check(app, world_client):
    """A photo posted from a signed-in browser: the layer reads up to the token, the app still
    gets every byte of the file."""
    client, jpeg = world_client
    token = csrf(client)["x-csrftoken"]
    body = _multipart("b0undary", [("csrftoken", None, token.encode()), ("file", "p.jpg", jpeg)])
    r = client.post(
        "/api/v1/photos",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=b0undary"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["width"] > 0


@pytest.fixture
def world_client(app, make_user):
    from tests.reliability import jpeg_bytes

    user = make_user("inspector")
    with TestClient(app) as client:
        login(client, user.username)
        yield client, jpeg_bytes(1)


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        'multipart/form-data; boundary=""',
        "multipart/form-data;boundary",
        "multipart/form-data; charset=utf-8",
    ],
)
def test_a_multipart_body_without_a_boundary_is_a_400_with_headers(app, make_user, content_type):
    client, _ = _signed_in(app, make_user)
    r = client.post("/logout", content=b"--x\r\n\r\n", headers={"content-type": content_type})
    assert r.status_code == 400 and r.json()["detail"]
    assert_security_headers(r, content_type)
    assert _still_signed_in(client)


@pytest.mark.parametrize(
    "body",
    [
        b"garbage without any boundary line",
        b"--XyZ\r\nno-colon-header\r\n\r\nx\r\n--XyZ--\r\n",
        b"--XyZ\r\n" + b"A" * 70000,
    ],
)
def test_a_malformed_multipart_body_is_never_a_500(app, make_user, body):
    client, _ = _signed_in(app, make_user)
    for cookie_only in (True, False):  # also before authentication: any cookie is enough
        c = client if not cookie_only else TestClient(app, cookies={"lang": "en"})
        r = c.post(
            "/api/v1/photos",
            content=body,
            headers={"content-type": "multipart/form-data; boundary=XyZ"},
        )
        assert r.status_code in (400, 403), (r.status_code, r.text)
        assert_security_headers(r, "malformed multipart")


# --- bearer tokens: revoke, logout, expiry ----------------------------------------------------------


def test_delete_token_revokes_the_token_presented(client, make_user, session):
    user = make_user("office")
    first, second = _token(client, user), _token(client, user)
    bearer = {"Authorization": f"Bearer {first}"}
    assert client.get("/api/v1/districts", headers=bearer).status_code == 200
    assert client.delete("/api/v1/auth/token", headers=bearer).status_code == 204
    assert client.get("/api/v1/districts", headers=bearer).status_code == 401
    assert client.delete("/api/v1/auth/token", headers=bearer).status_code == 401
    other = {"Authorization": f"Bearer {second}"}
    assert client.get("/api/v1/districts", headers=other).status_code == 200


def test_delete_token_without_a_bearer_is_401(app, make_user):
    client, _ = _signed_in(app, make_user)
    r = client.delete("/api/v1/auth/token", headers=csrf(client))
    assert r.status_code == 401
    assert _still_signed_in(client)  # a browser signs out with POST /logout


def test_logout_with_a_bearer_revokes_it(client, make_user):
    user = make_user("office")
    bearer = {"Authorization": f"Bearer {_token(client, user)}"}
    assert client.post("/logout", headers=bearer, follow_redirects=False).status_code == 303
    assert client.get("/api/v1/districts", headers=bearer).status_code == 401


def test_tokens_expire_after_token_days(client, make_user, session, settings):
    user = make_user("office")
    bearer = {"Authorization": f"Bearer {_token(client, user)}"}
    row = session.exec(select(AuthSession).where(AuthSession.kind == "token")).one()
    lifetime = row.expires_at - utcnow()
    assert timedelta(days=settings.token_days) - lifetime < timedelta(minutes=1)
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.commit()
    assert client.get("/api/v1/districts", headers=bearer).status_code == 401
