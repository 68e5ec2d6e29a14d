"""User management: add with a generated password, change role and district, reset password,
deactivate (sessions end), the last active admin, and the audit log."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from inspect_app.models import AuditLog, AuthSession, User
from tests.clients import csrf, login


@pytest.fixture
def admin_client(login_as):
    client, admin = login_as("admin")
    client.cookies.set("lang", "en")
    return client, admin


def shown_password(html: str) -> str:
    match = re.search(r'<p class="password"><code>([^<]+)</code>', html)
    assert match, "no password shown"
    return match.group(1)


def sessions_of(session, user_id: int) -> int:
    return session.exec(
        select(func.count()).select_from(AuthSession).where(AuthSession.user_id == user_id)
    ).one()


def test_add_a_user_shows_the_password_once_and_it_works(app, admin_client, session):
    client, admin = admin_client
    r = client.post(
        "/admin/users",
        data={
            "username": "li.wei",
            "display_name": "李伟",
            "role": "inspector",
            "district": "珠晖区",
        },
        headers=csrf(client),
    )
    assert r.status_code == 201
    password = shown_password(r.text)
    user = session.exec(select(User).where(User.username == "li.wei")).one()
    assert (user.role, user.display_name, user.password_hash != password) == (
        "inspector",
        "李伟",
        True,
    )
    assert password not in client.get("/admin/users").text  # shown once
    with TestClient(app) as other:
        login(other, "li.wei", password)
    entry = session.exec(select(AuditLog).where(AuditLog.action == "user.add")).one()
    assert entry.actor_id == admin.id and entry.object_id == user.id
    assert entry.detail == {"username": "li.wei", "role": "inspector", "district": "珠晖区"}
    assert password not in str(entry.detail)


def test_add_user_problems(admin_client, session):
    client, _admin = admin_client
    before = session.exec(select(func.count()).select_from(User)).one()
    h = {**csrf(client), "accept": "text/html"}
    r = client.post(
        "/admin/users", data={"username": "x", "role": "inspector", "district": ""}, headers=h
    )
    assert r.status_code == 422 and "An inspector or officer needs a district." in r.text
    r = client.post("/admin/users", data={"username": "y", "role": "king"}, headers=h)
    assert r.status_code == 422 and "Unknown role: king" in r.text
    r = client.post("/admin/users", data={"username": "admin1", "role": "office"}, headers=h)
    assert r.status_code == 422 and "is taken" in r.text
    assert session.exec(select(func.count()).select_from(User)).one() == before


def test_change_role_and_district(admin_client, make_user, session):
    client, admin = admin_client
    target = make_user("inspector")
    r = client.post(
        f"/admin/users/{target.id}",
        data={"role": "officer", "district": "珠晖区", "display_name": "王"},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert r.status_code == 303
    session.expire_all()
    changed = session.get(User, target.id)
    assert (changed.role, changed.display_name) == ("officer", "王")
    entry = session.exec(select(AuditLog).where(AuditLog.action == "user.edit")).one()
    assert entry.actor_id == admin.id and entry.detail["role"] == ["inspector", "officer"]
    r = client.post(
        f"/admin/users/{target.id}",
        data={"role": "officer", "district": ""},
        headers={**csrf(client), "accept": "text/html"},
    )
    assert r.status_code == 422 and "needs a district" in r.text
    r = client.post(
        f"/admin/users/{target.id}", data={"role": "office", "district": ""}, headers=csrf(client)
    )
    session.expire_all()
    assert session.get(User, target.id).district_id is None


def test_reset_password_ends_the_users_sessions(app, admin_client, make_user, session):
    client, _admin = admin_client
    target = make_user("office")
    with TestClient(app) as theirs:
        login(theirs, target.username)
        assert theirs.get("/dashboard", follow_redirects=False).status_code != 303
        r = client.post(f"/admin/users/{target.id}/password", headers=csrf(client))
        assert r.status_code == 200
        password = shown_password(r.text)
        assert sessions_of(session, target.id) == 0
        assert (
            theirs.get(
                "/hazards", headers={"accept": "text/html"}, follow_redirects=False
            ).status_code
            == 303
        )
    with TestClient(app) as again:
        login(again, target.username, password)


def test_deactivate_ends_sessions_and_sign_in(app, admin_client, make_user, session, api_as):
    client, _admin = admin_client
    api, target = api_as("officer")
    assert api.get("/api/v1/districts").status_code == 200
    r = client.post(
        f"/admin/users/{target.id}/active",
        data={"active": "false"},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert sessions_of(session, target.id) == 0
    assert api.get("/api/v1/districts").status_code == 401
    assert client.get("/admin/users").text.count("Deactivated") == 1
    client.post(f"/admin/users/{target.id}/active", data={"active": "true"}, headers=csrf(client))
    session.expire_all()
    assert session.get(User, target.id).is_active
    actions = [a.action for a in session.exec(select(AuditLog).order_by(AuditLog.id)).all()]
    assert actions == ["user.deactivate", "user.activate"]


def test_the_last_active_admin_cannot_be_deactivated_or_demoted(admin_client, make_user, session):
    client, admin = admin_client
    h = {**csrf(client), "accept": "text/html"}
    r = client.post(f"/admin/users/{admin.id}/active", data={"active": "false"}, headers=h)
    assert r.status_code == 409 and "last active admin" in r.text
    r = client.post(f"/admin/users/{admin.id}", data={"role": "office", "district": ""}, headers=h)
    assert r.status_code == 409
    session.expire_all()
    assert session.get(User, admin.id).role == "admin" and session.get(User, admin.id).is_active
    # With a second admin, the first may step down.
    make_user("admin")
    r = client.post(
        f"/admin/users/{admin.id}",
        data={"role": "office", "district": ""},
        headers=h,
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert session.exec(select(func.count()).select_from(AuditLog)).one() == 1


def test_a_deactivated_admin_does_not_count(admin_client, make_user, session):
    client, admin = admin_client
    other = make_user("admin")
    client.post(f"/admin/users/{other.id}/active", data={"active": "false"}, headers=csrf(client))
    r = client.post(
        f"/admin/users/{admin.id}/active",
        data={"active": "false"},
        headers={**csrf(client), "accept": "text/html"},
    )
    assert r.status_code == 409


def test_unknown_user_is_not_found(admin_client):
    client, _admin = admin_client
    assert client.get("/admin/users/9999", headers={"accept": "text/html"}).status_code == 404
    r = client.post("/admin/users/9999/password", headers={**csrf(client), "accept": "text/html"})
    assert r.status_code == 404


def test_users_search(admin_client, make_user):
    client, _admin = admin_client
    make_user("officer", username="zhang.san")
    text = client.get("/admin/users?q=zhang").text
    assert "zhang.san" in text and 'href="/admin/users/' in text and ">admin1</a>" not in text


def test_the_audit_page_lists_changes_newest_first(admin_client, make_user):
    client, admin = admin_client
    target = make_user("inspector")
    client.post(f"/admin/users/{target.id}/password", headers=csrf(client))
    client.post(f"/admin/users/{target.id}/active", data={"active": "false"}, headers=csrf(client))
    text = client.get("/admin/audit").text
    assert text.index("user.deactivate") < text.index("user.password")
    assert admin.username in text
