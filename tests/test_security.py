"""Security headers on every kind of response (pages, fragments, JSON, errors, PDFs, photos,
exports, static files), no inline script anywhere, and the session rules: rotation at sign-in,
server-side logout, cookies and tokens not interchangeable, Secure cookies in production."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from inspect_app.config import Settings
from inspect_app.main import create_app
from inspect_app.security import SESSION_COOKIE
from tests.clients import assert_security_headers, csrf, login
from tests.factories import PASSWORD, build_world

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "inspect_app" / "static"


class ScriptFinder(HTMLParser):
    """Collects inline <script> bodies, on*= handler attributes and javascript: URLs."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script" and not names.get("src"):
            self._in_inline_script = True
            if names.get("type") not in (
                None,
                "module",
                "text/javascript",
                "application/javascript",
            ):
                self._in_inline_script = False  # data blocks (application/json) are not executed
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...> handler attribute")
            if name in ("href", "src", "action", "formaction") and (
                value or ""
            ).strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:...>")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data):
        if self._in_inline_script and data.strip():
            self.problems.append(f"inline <script>: {data.strip()[:60]!r}")


def script_problems(html: str) -> list[str]:
    finder = ScriptFinder()
    finder.feed(html)
    return finder.problems


def test_the_finder_catches_what_the_csp_would_block():
    assert script_problems("<script>alert(1)</script>")
    assert script_problems('<button onclick="go()">x</button>')
    assert script_problems('<a href="javascript:go()">x</a>')
    assert not script_problems(
        '<script src="/static/app.js"></script><script type="application/json">{}</script>'
    )


@pytest.mark.parametrize(
    "template", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html"))
)
def test_no_template_has_inline_script_or_handlers(template):
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    # Jinja statements and expressions are not HTML: blank them so the parser sees the markup.
    markup = re.sub(r"{%.*?%}|{{.*?}}|{#.*?#}", "", text, flags=re.DOTALL)
    assert script_problems(markup) == [], template


def test_static_files_hold_no_html_with_inline_script():
    pages = [p for p in STATIC.rglob("*.htm*")]
    assert all(
        script_problems(p.read_text(encoding="utf-8", errors="replace")) == [] for p in pages
    )


@pytest.fixture
def world(session, settings, region):
    return build_world(session, settings, region)


def test_every_kind_of_response_carries_the_headers(app, world):
    ids = world["ids"]
    office = {"Authorization": f"Bearer {world['tokens']['office']}"}
    owner = {"Authorization": f"Bearer {world['tokens']['inspector']}"}
    html = {"accept": "text/html"}
    cases = [
        ("sign-in page", "/login", {}, "text/html"),
        ("page", "/dashboard", {**office, **html}, "text/html"),
        ("JSON", "/api/v1/districts", office, "application/json"),
        ("health", "/healthz", {}, "application/json"),
        ("JSON error", "/api/v1/hazards/999999", office, "application/json"),
        ("401", "/api/v1/hazards", {}, "application/json"),
        ("HTML error page", "/hazards/999999", {**office, **html}, "text/html"),
        ("PDF", f"/hazards/{ids['hazard_id']}/notice.pdf", office, "application/pdf"),
        ("stored PDF", f"/reports/archive/{ids['report_id']}.pdf", office, "application/pdf"),
        ("photo", f"/photos/{ids['photo_id']}", owner, "image/jpeg"),
        ("thumbnail", f"/photos/{ids['photo_id']}/thumb", owner, "image/jpeg"),
        ("CSV export", "/exports/hazards.csv", office, "text/csv"),
        ("static file", "/static/app.css", {}, "text/css"),
    ]
    with TestClient(app) as client:
        for what, url, headers, kind in cases:
            r = client.get(url, headers=headers, follow_redirects=False)
            assert r.headers["content-type"].startswith(kind), (
                f"{what}: {r.status_code} {r.headers['content-type']}"
            )
            assert_security_headers(r, what)
            if kind == "text/html":
                assert script_problems(r.text) == [], what


def test_htmx_fragments_carry_the_headers(app, world):
    office = {
        "Authorization": f"Bearer {world['tokens']['office']}",
        "accept": "text/html",
        "HX-Request": "true",
    }
    with TestClient(app) as client:
        for url in ("/hazards", "/dashboard"):
            r = client.get(url, headers=office)
            assert r.status_code == 200 and "<html" not in r.text, url
            assert_security_headers(r, url)
            assert script_problems(r.text) == [], url


def test_pages_as_rendered_have_no_inline_script(app, world):
    """Every GET page each role can open, as rendered with real data."""
    ids = world["ids"]
    pages = {
        "inspector": [
            "/inspections",
            "/inspections/new",
            f"/inspections/{world['draft'].id}",
            f"/inspections/{ids['inspection_id']}/record",
            f"/hazards/{ids['hazard_id']}",
        ],
        "officer": [
            "/hazards",
            f"/hazards/{ids['hazard_id']}",
            "/dashboard",
            "/map",
            "/coverage",
            "/reports",
        ],
        "admin": [
            "/admin/users",
            f"/admin/users/{ids['user_id']}",
            "/admin/templates",
            f"/admin/templates/{ids['template_id']}",
            "/admin/sites",
            f"/admin/sites/{ids['site_id']}",
            "/admin/districts",
            "/admin/audit",
        ],
    }
    with TestClient(app) as client:
        for principal, urls in pages.items():
            headers = {
                "Authorization": f"Bearer {world['tokens'][principal]}",
                "accept": "text/html",
            }
            for url in urls:
                r = client.get(url, headers=headers)
                assert r.status_code == 200, (principal, url, r.status_code)
                assert script_problems(r.text) == [], url
                assert_security_headers(r, url)


def test_photos_are_served_privately_as_jpeg(app, world):
    owner = {"Authorization": f"Bearer {world['tokens']['inspector']}"}
    with TestClient(app) as client:
        r = client.get(f"/photos/{world['ids']['photo_id']}", headers=owner)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert "private" in r.headers["cache-control"] and "public" not in r.headers["cache-control"]


def test_a_session_cookie_is_not_a_token_and_a_token_not_a_cookie(app, client, make_user):
    user = make_user("office")
    login(client, user.username)
    cookie = client.cookies[SESSION_COOKIE]
    token = client.post(
        "/api/v1/auth/token", data={"username": user.username, "password": PASSWORD}
    ).json()["access_token"]
    with TestClient(app) as other:
        assert (
            other.get(
                "/api/v1/districts", headers={"Authorization": f"Bearer {cookie}"}
            ).status_code
            == 401
        )
        other.cookies.set(SESSION_COOKIE, token)
        assert other.get("/api/v1/districts").status_code == 401


def test_signing_in_again_invalidates_the_previous_cookie(app, client, make_user):
    user = make_user("office")
    login(client, user.username)
    first = client.cookies[SESSION_COOKIE]
    login(client, user.username)
    assert client.cookies[SESSION_COOKIE] != first
    with TestClient(app, cookies={SESSION_COOKIE: first}) as replay:
        assert replay.get("/api/v1/districts").status_code == 401
    assert client.get("/api/v1/districts").status_code == 200


def test_logout_of_one_browser_leaves_the_other_signed_in(app, client, make_user):
    user = make_user("office")
    login(client, user.username)
    with TestClient(app) as laptop:
        login(laptop, user.username)
        assert (
            client.post("/logout", headers=csrf(client), follow_redirects=False).status_code == 303
        )
        assert client.get("/api/v1/districts").status_code == 401
        assert laptop.get("/api/v1/districts").status_code == 200


def test_logout_needs_the_csrf_token(client, make_user):
    """A cross-site form must not be able to sign the user out (or anything else)."""
    user = make_user("office")
    login(client, user.username)
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert client.get("/api/v1/districts").status_code == 200


def test_production_cookies_are_secure_and_httponly(settings, make_user):
    production = Settings(
        database_url=settings.database_url,
        upload_dir=settings.upload_dir,
        secret_key="a-production-secret-of-some-length",
        env="production",
    )
    user = make_user("office")
    with TestClient(create_app(production), base_url="https://testserver") as c:
        page = c.get("/login")
        assert "secure" in page.headers["set-cookie"].lower()  # the CSRF cookie
        r = c.post(
            "/login",
            data={
                "username": user.username,
                "password": PASSWORD,
                "csrftoken": c.cookies["csrftoken"],
                "next": "/",
            },
            follow_redirects=False,
        )
        assert r.status_code == 303
        session_cookie = next(
            v for v in r.headers.get_list("set-cookie") if v.startswith(SESSION_COOKIE)
        ).lower()
        assert (
            "secure" in session_cookie
            and "httponly" in session_cookie
            and "samesite=lax" in session_cookie
        )


def test_errors_do_not_leak_internals(app, world):
    office = {"Authorization": f"Bearer {world['tokens']['office']}"}
    with TestClient(app) as client:
        for url in ("/api/v1/hazards/notanumber", "/api/v1/hazards?limit=99999", "/hazards/0"):
            r = client.get(url, headers=office)
            assert 400 <= r.status_code < 500
            assert "Traceback" not in r.text and "sqlalchemy" not in r.text.lower()
