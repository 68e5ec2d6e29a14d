"""Driving the app as its users do: sign in through the form, send the CSRF token, run the
command line, sign in on a phone. Shared by test modules (which never import each other)."""

from __future__ import annotations

import re
import subprocess
import sys
import time

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


# --- the phone's outbox and service worker (tests/browser) ---------------------------------------

# Short retries, so that a test does not wait minutes for the backoff.
FAST = (
    "window.InspectOutboxConfig = {baseMs: 200, maxMs: 1000, timeoutMs: 4000, submitWaitMs: 1500};"
)


def controlled(page) -> None:
    """The service worker controls the page and has kept the user's pages."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    if not page.evaluate("!!navigator.serviceWorker.controller"):
        page.reload()
    assert page.evaluate("!!navigator.serviceWorker.controller")
    page.locator("html[data-kept]").wait_for(state="attached", timeout=30_000)


def drained(page, timeout: float = 20_000) -> None:
    """Nothing waits in the outbox (and nothing was refused)."""
    from playwright.sync_api import expect

    status = page.locator("#sync-status")
    expect(status).to_have_attribute("data-pending", "0", timeout=timeout)
    refused = status.get_attribute("data-refused-count")
    assert refused == "0", status.locator("[data-refused] ul").text_content()


def kept_pages(page) -> list[str]:
    """The addresses of the pages the service worker keeps on the phone."""
    return page.evaluate(
        "caches.open('pages').then(c => c.keys())"
        ".then(ks => ks.map(r => new URL(r.url).pathname + new URL(r.url).search))"
    )


def wait_kept(page, path: str, seconds: float = 20) -> None:
    """The service worker has kept this page (it refreshes the user's pages when online)."""
    deadline = time.time() + seconds
    while path not in kept_pages(page):
        assert time.time() < deadline, f"{path} not kept: {kept_pages(page)}"
        page.wait_for_timeout(200)


def fill_whole_checklist(page, after_section=None) -> None:
    """Answer every section (online or offline), moving on with the section button: one failed
    item. after_section(page), if given, runs once each section is answered."""
    for n in range(20):
        answer_section(page, fail_first=n == 0)
        if after_section:
            after_section(page)
        nxt = page.locator("button[name=go]")
        current = page.locator("[data-fill]").get_attribute("data-section")
        target = nxt.get_attribute("value") if nxt.count() else current
        if target == current:
            return
        nxt.tap()
        page.wait_for_url(re.compile(r"section=" + target))


def answer_section(page, fail_first: bool) -> None:
    """Every item of the section on screen, as a thumb gives it; the first one failed if told."""
    for i, group in enumerate(page.locator("fieldset.item").all()):
        result = "fail" if fail_first and i == 0 else "pass"
        if group.locator(f"input[type=radio][value={result}]").count():
            group.locator(f"label:has(input[value={result}])").tap()
        if result == "fail":
            group.locator("textarea[name^=description]").fill("台账缺少十月记录")
        number = group.locator("input[type=number]")
        if number.count():
            number.fill("3.2")
            number.blur()
        text = group.locator("textarea[name^=value]")
        if text.count():
            text.fill("无其他情况")
            text.blur()
        group.locator(".item-status .saved").wait_for()


def run_async(make_coroutine):
    """asyncio.run in a thread of its own: the calling thread may have a loop running already
    (Playwright's sync API keeps one in the worker that ran a browser test)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()
