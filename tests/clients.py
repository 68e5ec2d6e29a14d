"""Driving the app as its users do: sign in through the form, send the CSRF token, run the
command line, sign in on a phone. Shared by test modules (which never import each other)."""

from __future__ import annotations

import re
import subprocess
import sys

from fastapi.testclient import TestClient

from tests.factories import PASSWORD


def form_token(html: str) -> str:
    """The CSRF token a page's form carries, as a browser would submit it."""
    match = re.search(r'name="csrftoken" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    page = client.get("/login")
    assert page.status_code == 200
    r = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrftoken": form_token(page.text),
            "next": "/",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


def csrf(c: TestClient) -> dict[str, str]:
    """The CSRF header htmx sends (from the cookie the pages set)."""
    if not c.cookies.get("csrftoken"):
        c.get("/login")
    return {"x-csrftoken": c.cookies.get("csrftoken")}


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def upload_form(client, url: str, data: bytes, filename="sites.xlsx", mime=XLSX):
    """As the plain form sends it: the CSRF token is a field before the file."""
    return client.post(
        url,
        files={"file": (filename, data, mime)},
        data={"csrftoken": csrf(client)["x-csrftoken"]},
        headers={"accept": "text/html"},
    )


def upload_photo(
    client, data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg", headers=None
):
    """POST /api/v1/photos as the phone does."""
    return client.post(
        "/api/v1/photos", files={"file": (name, data, content_type)}, headers=headers
    )


def assert_security_headers(response, what: str) -> None:
    """The headers every answer carries: a CSP without inline script, no framing, no sniffing."""
    h = response.headers
    csp = h.get("content-security-policy", "")
    directives = {
        part.strip().split(" ", 1)[0]: part.strip() for part in csp.split(";") if part.strip()
    }
    assert "script-src" in directives, f"{what}: no script-src in {csp!r}"
    assert (
        "'unsafe-inline'" not in directives["script-src"]
        and "'unsafe-eval'" not in directives["script-src"]
    ), what
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", what
    assert directives.get("object-src") == "object-src 'none'", what
    assert h.get("x-content-type-options") == "nosniff", what
    assert h.get("referrer-policy") in (
        "same-origin",
        "strict-origin-when-cross-origin",
        "no-referrer",
    ), what
    assert h.get("x-frame-options") == "DENY", what


def run_cli(env, *args, stdin: str | None = None):
    """`inspect-app ARGS` in a subprocess with its own environment (database, uploads)."""
    return subprocess.run(
        [sys.executable, "-m", "inspect_app.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "has_touch": True,
    "is_mobile": True,
    "device_scale_factor": 2,
    "locale": "zh-CN",
}


def sign_in(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login form in a Playwright page."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, f"sign-in failed: {page.content()[:3000]}"
