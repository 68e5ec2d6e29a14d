"""Sign-in, sessions, tokens, CSRF and the rate limit."""

from fastapi.testclient import TestClient
from sqlmodel import select

from inspect_app.models import AuthSession, LoginAttempt
from inspect_app.security import SESSION_COOKIE, hash_password, verify_password
from tests.conftest import PASSWORD, csrf, login


def test_passwords_are_argon2_hashes():
    h = hash_password("s3cret-pass")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "s3cret-pass")
    assert not verify_password(h, "wrong")
    assert not verify_password(None, "anything")


def test_login_sets_httponly_samesite_cookie_and_redirects_home(client, make_user, session):
    user = make_user("office")
    client.get("/login")
    r = client.post(
        "/login",
        data={
            "username": user.username,
            "password": PASSWORD,
            "csrftoken": client.cookies["csrftoken"],
            "next": "/",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert (
        SESSION_COOKIE in cookie
        and "HttpOnly" in cookie
        and "SameSite=lax" in cookie.replace("Lax", "lax")
    )
    stored = session.exec(select(AuthSession)).all()
    assert (
        len(stored) == 1 and stored[0].token_hash != client.cookies[SESSION_COOKIE]
    )  # only the hash
    home = client.get("/", follow_redirects=False)
    assert home.headers["location"] == "/dashboard"


def test_each_role_lands_on_its_home(app, make_user):
    for role, home in [
        ("inspector", "/inspections"),
        ("officer", "/hazards"),
        ("office", "/dashboard"),
        ("admin", "/admin"),
    ]:
        with TestClient(app) as c:
            login(c, make_user(role).username)
            assert c.get("/", follow_redirects=False).headers["location"] == home


def test_wrong_password_and_unknown_user_look_the_same(client, make_user):
    user = make_user("office")
    client.get("/login")
    token = client.cookies["csrftoken"]
    a = client.post(
        "/login", data={"username": user.username, "password": "nope", "csrftoken": token}
    )
    b = client.post("/login", data={"username": "ghost", "password": "nope", "csrftoken": token})
    assert a.status_code == b.status_code == 401
    assert SESSION_COOKIE not in client.cookies
    strip = lambda t: t.replace(user.username, "").replace("ghost", "")  # noqa: E731
    assert strip(a.text) == strip(b.text)


def test_login_is_rate_limited_per_user(client, make_user, session, settings):
    user = make_user("office")
    client.get("/login")
    token = client.cookies["csrftoken"]
    for _ in range(settings.login_max_failures_per_user_address):
        assert (
            client.post(
                "/login", data={"username": user.username, "password": "bad", "csrftoken": token}
            ).status_code
            == 401
        )
    # Now even the right password is refused for a while.
    r = client.post(
        "/login", data={"username": user.username, "password": PASSWORD, "csrftoken": token}
    )
    assert r.status_code == 429
    assert SESSION_COOKIE not in client.cookies
    api = client.post("/api/v1/auth/token", data={"username": user.username, "password": PASSWORD})
    assert api.status_code == 429 and "detail" in api.json()


def test_login_is_rate_limited_per_address(client, make_user, settings):
    client.get("/login")
    token = client.cookies["csrftoken"]
    for i in range(settings.login_max_failures_per_address):
        client.post("/login", data={"username": f"guess{i}", "password": "bad", "csrftoken": token})
    user = make_user("office")
    r = client.post(
        "/login", data={"username": user.username, "password": PASSWORD, "csrftoken": token}
    )
    assert r.status_code == 429


def test_login_form_without_csrf_token_is_refused(client, make_user, session):
    user = make_user("office")
    client.get("/login")  # has the csrftoken cookie, but the form does not send it
    r = client.post("/login", data={"username": user.username, "password": PASSWORD})
    assert r.status_code == 403
    assert "detail" in r.json()
    assert session.exec(select(LoginAttempt)).all() == []  # refused before any work


def test_forged_csrf_token_is_refused(client, make_user):
    user = make_user("office")
    client.get("/login")
    r = client.post(
        "/login", data={"username": user.username, "password": PASSWORD, "csrftoken": "forged"}
    )
    assert r.status_code == 403


def test_logout_invalidates_the_session_server_side(client, make_user, session):
    user = make_user("office")
    login(client, user.username)
    stolen = client.cookies[SESSION_COOKIE]
    r = client.post("/logout", headers=csrf(client), follow_redirects=False)
    assert r.status_code == 303
    assert session.exec(select(AuthSession)).all() == []
    replay = TestClient(client.app, cookies={SESSION_COOKIE: stolen})
    assert replay.get("/api/v1/districts").status_code == 401


def test_login_rotates_the_session(client, make_user, session):
    user = make_user("office")
    login(client, user.username)
    first = client.cookies[SESSION_COOKIE]
    r = client.post(
        "/login",
        data={
            "username": user.username,
            "password": PASSWORD,
            "csrftoken": client.cookies["csrftoken"],
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert client.cookies[SESSION_COOKIE] != first
    assert len(session.exec(select(AuthSession)).all()) == 1  # the old one is gone


def test_token_endpoint_and_bearer_access(client, make_user):
    user = make_user("office")
    r = client.post("/api/v1/auth/token", data={"username": user.username, "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and len(body["access_token"]) > 20
    ok = client.get(
        "/api/v1/districts", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert ok.status_code == 200


def test_token_endpoint_refuses_bad_credentials(client, make_user):
    user = make_user("office")
    r = client.post("/api/v1/auth/token", data={"username": user.username, "password": "bad"})
    assert r.status_code == 401 and r.json()["detail"]
    r = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "bad"})
    assert r.status_code == 401
    r = client.post("/api/v1/auth/token", data={})
    assert r.status_code == 422


def test_forged_or_missing_credentials_are_401(client, make_user):
    make_user("office")
    assert client.get("/api/v1/districts").status_code == 401
    assert (
        client.get("/api/v1/districts", headers={"Authorization": "Bearer forged"}).status_code
        == 401
    )
    client.cookies.set(SESSION_COOKIE, "forged")
    assert client.get("/api/v1/districts").status_code == 401


def test_expired_session_is_401(client, make_user, session):
    from datetime import timedelta

    from inspect_app.models import utcnow

    user = make_user("office")
    login(client, user.username)
    row = session.exec(select(AuthSession)).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.commit()
    assert client.get("/api/v1/districts").status_code == 401


def test_deactivated_user_loses_access(client, make_user, session):
    user = make_user("office")
    login(client, user.username)
    user.is_active = False
    session.add(user)
    session.commit()
    assert client.get("/api/v1/districts").status_code == 401


def test_pages_redirect_to_login_when_signed_out(client):
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_login_next_is_local_only(client, make_user):
    user = make_user("office")
    client.get("/login")
    r = client.post(
        "/login",
        data={
            "username": user.username,
            "password": PASSWORD,
            "csrftoken": client.cookies["csrftoken"],
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


def test_language_switch_sets_cookie_and_english_renders(client):
    zh = client.get("/login")
    assert "登录" in zh.text and 'lang="zh-CN"' in zh.text
    client.get("/lang/en", follow_redirects=False)
    en = client.get("/login")
    assert "Sign in" in en.text and 'lang="en"' in en.text


def test_security_headers(client):
    r = client.get("/login")
    csp = r.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"]


def test_login_post_without_any_cookie_is_refused(app, make_user, session):
    """Login CSRF: a cross-site form cannot sign the victim's browser into another account."""
    user = make_user("office")
    with TestClient(app) as fresh:
        r = fresh.post("/login", data={"username": user.username, "password": PASSWORD})
        assert r.status_code == 403
        assert SESSION_COOKIE not in fresh.cookies
