"""Sign-in limits under real concurrency (threads, each with its own database connection), per
(user, address) rather than per user, the per-user ceiling's growing delay, and which proxies
may tell us the client's address and scheme."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from inspect_app.config import Settings
from inspect_app.domain import accounts, signin_limits
from inspect_app.domain.errors import NotAuthenticated, TooManyRequests
from inspect_app.main import create_app
from inspect_app.models import LoginAttempt
from inspect_app.security import SESSION_COOKIE
from tests.clients import form_token
from tests.factories import PASSWORD


def _settings(settings: Settings, **changes) -> Settings:
    return settings.model_copy(update=changes)


def _storm(engine, settings, attempts: list[tuple[str, str, str]]) -> dict[str, int]:
    """Send every (username, password, address) at once from its own thread; count outcomes."""
    outcomes = {"checked": 0, "refused": 0, "ok": 0}
    lock = threading.Lock()
    barrier = threading.Barrier(len(attempts))

    def attempt(username, password, address):
        with Session(engine, expire_on_commit=False) as session:
            barrier.wait()
            try:
                accounts.authenticate(session, settings, username, password, address)
                outcome = "ok"
            except NotAuthenticated:
                outcome = "checked"
            except TooManyRequests:
                outcome = "refused"
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=attempt, args=a) for a in attempts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(outcomes.values()) == len(attempts)
    return outcomes


def _checked_in_log(session) -> int:
    session.expire_all()
    return len(session.exec(select(LoginAttempt)).all())


def test_concurrent_wrong_passwords_for_one_user_check_at_most_the_limit(
    engine, settings, session, make_user
):
    user = make_user("inspector")
    limit = settings.login_max_failures_per_user_address
    outcomes = _storm(engine, settings, [(user.username, "wrong", "198.51.100.7")] * 40)
    assert outcomes["checked"] == limit and outcomes["refused"] == 40 - limit
    assert _checked_in_log(session) == limit  # one LoginAttempt per password actually checked


def test_concurrent_usernames_from_one_address_check_at_most_the_limit(engine, settings, session):
    limit = settings.login_max_failures_per_address
    attempts = [(f"guess{i}", "wrong", "198.51.100.8") for i in range(60)]
    outcomes = _storm(engine, settings, attempts)
    assert outcomes["checked"] == limit and outcomes["refused"] == 60 - limit
    assert _checked_in_log(session) == limit


def test_failures_from_elsewhere_do_not_lock_the_user_out(session, settings, make_user):
    user = make_user("inspector")
    for _ in range(settings.login_max_failures_per_user_address):
        with pytest.raises(NotAuthenticated):
            accounts.authenticate(session, settings, user.username, "wrong", "203.0.113.66")
    with pytest.raises(TooManyRequests) as refused:
        accounts.authenticate(session, settings, user.username, PASSWORD, "203.0.113.66")
    assert 0 < refused.value.retry_after <= settings.login_window_minutes * 60
    # The inspector's own phone, from its own address, still signs in.
    assert accounts.authenticate(session, settings, user.username, PASSWORD, "10.1.2.3").id == (
        user.id
    )


def test_a_success_gives_the_attempts_back(session, settings, make_user):
    user = make_user("inspector")
    limit = settings.login_max_failures_per_user_address
    for _ in range(limit - 1):
        with pytest.raises(NotAuthenticated):
            accounts.authenticate(session, settings, user.username, "wrong", "10.0.0.9")
    accounts.authenticate(session, settings, user.username, PASSWORD, "10.0.0.9")
    for _ in range(limit):  # a fresh allowance, not one left
        with pytest.raises(NotAuthenticated):
            accounts.authenticate(session, settings, user.username, "wrong", "10.0.0.9")
    with pytest.raises(TooManyRequests):
        accounts.authenticate(session, settings, user.username, "wrong", "10.0.0.9")


def test_the_user_ceiling_slows_down_with_growing_delays_not_a_lock(
    session, settings, make_user, monkeypatch
):
    """Past the ceiling (failures from many addresses), each attempt must wait a delay that
    doubles; after the delay an attempt goes through again, even the right password."""
    clock = [1_000_000.0]
    monkeypatch.setattr(signin_limits.time, "time", lambda: clock[0])
    strict = _settings(settings, login_user_ceiling=3, login_max_delay_seconds=4)
    user = make_user("inspector")
    for i in range(4):  # the 4th passes the ceiling: it is checked, and starts a 1 s delay
        with pytest.raises(NotAuthenticated):
            accounts.authenticate(session, strict, user.username, "wrong", f"192.0.2.{i}")
    delays = []
    for i in range(4):
        with pytest.raises(TooManyRequests) as refused:
            accounts.authenticate(session, strict, user.username, "wrong", f"192.0.2.{10 + i}")
        delays.append(refused.value.retry_after)
        clock[0] += refused.value.retry_after
        with pytest.raises(NotAuthenticated):  # after the delay: checked again
            accounts.authenticate(session, strict, user.username, "wrong", f"192.0.2.{20 + i}")
    assert delays == [1, 2, 4, 4]  # doubling, capped
    clock[0] += 4
    assert accounts.authenticate(session, strict, user.username, PASSWORD, "192.0.2.99")
    # A window later the ceiling starts afresh.
    clock[0] += strict.login_window_minutes * 60 + 1
    for i in range(3):
        with pytest.raises(NotAuthenticated):
            accounts.authenticate(session, strict, user.username, "wrong", f"192.0.2.{40 + i}")


# --- proxies -------------------------------------------------------------------------------------


def _sign_in(app, make_user, headers) -> tuple[TestClient, object]:
    user = make_user("office")
    client = TestClient(app, client=("127.0.0.1", 40000), base_url="http://inspect.example")
    page = client.get("/login", headers=headers)
    # As the browser would send it to the proxy (a Secure cookie does not travel on plain http).
    cookie = {"cookie": f"csrftoken={page.cookies['csrftoken']}"}
    r = client.post(
        "/login",
        data={"username": user.username, "password": PASSWORD, "csrftoken": form_token(page.text)},
        headers={**headers, **cookie},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client, r


def _recorded_address(session) -> str:
    session.expire_all()
    return session.exec(select(LoginAttempt)).one().address


def test_forwarded_headers_are_ignored_by_default_even_from_loopback(app, session, make_user):
    forwarded = {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"}
    client, r = _sign_in(app, make_user, forwarded)
    assert _recorded_address(session) == "127.0.0.1"
    assert "secure" not in r.headers["set-cookie"].lower()
    client.close()


def test_a_trusted_proxy_gives_the_client_address_and_https(settings, session, make_user):
    app = create_app(_settings(settings, trusted_proxies="10.9.0.0/16, 127.0.0.1"))
    forwarded = {
        # The left-most entry is whatever the client claimed; the proxies are skipped.
        "X-Forwarded-For": "6.6.6.6, 203.0.113.5, 10.9.3.4",
        "X-Forwarded-Proto": "https",
    }
    client, r = _sign_in(app, make_user, forwarded)
    assert _recorded_address(session) == "203.0.113.5"
    cookies = {c.split("=", 1)[0]: c.lower() for c in r.headers.get_list("set-cookie")}
    assert "secure" in cookies[SESSION_COOKIE] and "secure" in cookies["csrftoken"]
    lang = client.get("/lang/en", headers=forwarded, follow_redirects=False)
    assert "secure" in lang.headers["set-cookie"].lower()
    plain = client.get("/lang/en", follow_redirects=False)  # the proxy spoke plain HTTP
    assert "secure" not in plain.headers["set-cookie"].lower()
    client.close()


def test_a_bad_trusted_proxies_setting_refuses_to_start(settings):
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        Settings(
            database_url=settings.database_url,
            upload_dir=settings.upload_dir,
            secret_key="test-secret-key-not-for-production",
            trusted_proxies="10.0.0.0/33",
        )


def test_the_server_leaves_forwarding_headers_to_the_app(monkeypatch, settings):
    """uvicorn's own proxy_headers trusts X-Forwarded-For from loopback by default; `serve`
    must turn it off so that INSPECT_TRUSTED_PROXIES is the only rule."""
    import uvicorn

    from inspect_app import cli

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    cli.main(["serve", "--port", "0"])
    assert seen["proxy_headers"] is False


def test_a_username_with_a_nul_character_is_a_wrong_password_and_is_counted(
    client, session, make_user
):
    """PostgreSQL cannot store U+0000; the token endpoint must still answer 401, not 422/500."""
    user = make_user("inspector")
    r = client.post(
        "/api/v1/auth/token", data={"username": user.username + "\x00", "password": PASSWORD}
    )
    assert r.status_code == 401, r.text
    session.expire_all()
    attempt = session.exec(select(LoginAttempt)).one()
    assert attempt.username == user.username + "\ufffd" and not attempt.success
