"""Working offline: the service worker (served from the root so that its scope is the whole
app), the page shown offline for a page the phone did not keep, and two small JSON answers the
phone's outbox asks for: the current CSRF token (read when sending, never stored with a queued
write) and the pages to keep on the phone."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from inspect_app.deps import CurrentUser, OptionalUser, SessionDep, SettingsDep
from inspect_app.domain import offline
from inspect_app.web import assets
from inspect_app.web.rendering import render

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
NO_STORE = {"Cache-Control": "no-store"}


def shell_urls() -> list[str]:
    """The app shell the service worker keeps: the static engineer's shell (CSS, our JS,
    htmx, icons, manifest), the outbox and photo scripts every page uses, and the page shown
    offline for a page the phone did not keep. Same-origin only (INSPECT_ASSETS=cdn leaves
    the vendored files to the CDN)."""
    extra = [
        assets.asset_url(name) for name in ("outbox.js", "photos.js", "hazards.js", "report.js")
    ]
    urls = [*assets.shell_urls(), *extra, "/offline"]
    return [u for u in dict.fromkeys(urls) if u.startswith("/")]


def shell_version(request: Request) -> str:
    """Changes with any static file (a deployment replaces the phone's cached shell);
    app.state.offline_version overrides it (a test deploys a new version this way)."""
    return getattr(request.app.state, "offline_version", None) or assets.asset_version()


@router.get("/sw.js")
def service_worker(request: Request):
    source = (STATIC_DIR / "sw.js").read_text(encoding="utf-8")
    config = {"version": shell_version(request), "shell": shell_urls()}
    body = source.replace("/*CONFIG*/{}", json.dumps(config))
    # Never cached: the browser must see a new deployment's worker at its next check.
    return Response(body, media_type="text/javascript", headers=NO_STORE)


@router.get("/offline")
def offline_page(request: Request):
    """Shown by the service worker for a page that was not kept on the phone."""
    return render(request, "offline.html", {"user": None})


@router.get("/sync/csrf")
def csrf_token(request: Request, user: OptionalUser):
    """The CSRF token of this session and who is signed in (null: sign in again)."""
    token = request.scope["csrftoken"]() if "csrftoken" in request.scope else ""
    return JSONResponse({"csrftoken": token, "user": user.id if user else None}, headers=NO_STORE)


@router.get("/sync/pages")
def pages_to_keep(session: SessionDep, settings: SettingsDep, user: CurrentUser):
    """The pages the phone keeps for this user while online (see domain/offline.py)."""
    return JSONResponse(
        {"user": user.id, "pages": offline.offline_pages(session, user, settings.zone)},
        headers=NO_STORE,
    )
