"""create_app(): routers, static files, middleware (proxies, locale, security headers, CSRF), errors."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from inspect_app import __version__, i18n
from inspect_app.config import Settings, get_settings
from inspect_app.db import TextNotStorable, make_engine, requests_at_once
from inspect_app.domain.errors import DomainError
from inspect_app.middleware import Csrf, RequestGate, Revalidate, SafetyNet, TrustedProxies
from inspect_app.web import assets
from inspect_app.web.rendering import render, templates

log = logging.getLogger("inspect_app")
# Below the phone's request timeout, so it hears "busy, retry" rather than nothing.
REQUEST_GATE_WAIT_SECONDS = 20.0


def wants_json(request: Request) -> bool:
    """API paths, scripts and htmx-less clients asking for JSON get JSON errors; browsers get pages."""
    path = request.url.path
    if path.startswith("/api/") or path in ("/healthz",):
        return True
    accept = request.headers.get("accept", "")
    return "text/html" not in accept


class LocaleAndHeaders:
    """Pure ASGI middleware: picks the request's locale and adds the security headers."""

    def __init__(self, app, settings: Settings):
        self.app = app
        self.settings = settings
        script_src = "'self'" + (" https://unpkg.com" if settings.assets == "cdn" else "")
        img_src = "'self' data: blob:"
        if settings.tile_url:
            img_src += " " + _origin_pattern(settings.tile_url)
        self.csp = (
            f"default-src 'self'; script-src {script_src}; style-src 'self' 'unsafe-inline'"
            + (" https://unpkg.com" if settings.assets == "cdn" else "")
            + f"; img-src {img_src}; connect-src 'self'; frame-ancestors 'none'; "
            "base-uri 'self'; form-action 'self'; object-src 'none'"
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        cookies = _cookies(headers.get("cookie", ""))
        locale = i18n.pick_locale(
            cookies.get("lang"),
            # Pages speak the city's language unless the user switches; scripts may ask for English.
            headers.get("accept-language") if scope["path"].startswith("/api/") else None,
            self.settings.default_locale,
        )
        i18n.current_locale.set(locale)
        is_docs = scope["path"] in ("/docs", "/redoc", "/docs/oauth2-redirect")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                if not is_docs:  # Swagger UI needs its own inline script
                    extra.append((b"content-security-policy", self.csp.encode()))
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _origin_pattern(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url.replace("{s}", "*"))
    return f"{parts.scheme}://{parts.netloc}"


def _cookies(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _error_response(request: Request, status: int, detail, headers: dict | None = None):
    if status == 401 and not wants_json(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    headers = {k: v for k, v in (headers or {}).items() if k.lower() != "allow"}
    if status == 405:  # Starlette names only the first route of the path
        headers["Allow"] = _allowed_methods(request)
    if wants_json(request):
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)
    message = detail.get("message") if isinstance(detail, dict) else detail
    response = render(
        request,
        "error.html",
        {"status": status, "message": message, "detail": detail},
        block="error",
        status_code=status,
    )
    response.headers.update(headers)
    return response


def _allowed_methods(request: Request) -> str:
    """The methods the routes at this path answer (a 405 must say them; RFC 9110 15.5.6)."""
    from fastapi.routing import iter_route_contexts
    from starlette.routing import Match

    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= set(route.methods or {"GET", "HEAD"})
    return ", ".join(sorted(methods or {"GET", "HEAD"}))


def _document_error_details(app: FastAPI) -> None:
    """A 422 from the domain carries {"detail": text} or {"detail": {"message", "errors"}}, not
    only FastAPI's list of field errors: the published schema says so, so that clients (and the
    schema-driven fuzz tests) expect what is sent."""
    generate = app.openapi

    def openapi():
        if app.openapi_schema is None:
            schema = generate()
            error = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
            if error is not None:
                listed = error["properties"]["detail"]
                error["properties"]["detail"] = {
                    "title": "Detail",
                    "anyOf": [
                        {"type": "string"},
                        {"type": "object"},
                        {k: v for k, v in listed.items() if k != "title"},
                    ],
                }
        return app.openapi_schema

    app.openapi = openapi


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Inspect",
        version=__version__,
        description="Production-safety inspections, hazards and reports. JSON API under /api/v1.",
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings)
    assets.configure(cdn=settings.assets == "cdn", locale=settings.default_locale)
    templates.env.globals.update(assets.jinja_globals())
    if not settings.shared_storage:  # object storage: nothing of ours on this server's disk
        settings.upload_dir.mkdir(parents=True, exist_ok=True)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError):
        return _error_response(request, exc.status_code, exc.detail, exc.headers)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect):
        # Routine on phones (a tunnel, a closed tab): one line, no traceback. Nobody reads the answer.
        log.warning("client disconnected during %s %s", request.method, request.url.path)
        return Response(status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _error_response(request, exc.status_code, exc.detail, exc.headers)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def out_of_range(request: Request, exc: Exception):
        # An id or number beyond the database's 64-bit integers (SQLite raises OverflowError
        # while binding it): the input is wrong, not the server.
        return _error_response(
            request, 422, i18n.gettext("A number in the request is out of range.")
        )

    @app.exception_handler(TextNotStorable)
    async def nul_in_text(request: Request, exc: TextNotStorable):
        return _error_response(
            request,
            422,
            i18n.gettext(
                "Text in the request holds a NUL character (U+0000): remove it and send again."
            ),
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = [
            {"loc": list(e.get("loc", [])), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return _error_response(request, 422, errors)

    from inspect_app.api import auth as api_auth
    from inspect_app.api import catalog as api_catalog
    from inspect_app.api import hazard_reports as api_hazard_reports
    from inspect_app.api import hazards as api_hazards
    from inspect_app.api import inspections as api_inspections
    from inspect_app.api import photos as api_photos
    from inspect_app.api import plans as api_plans
    from inspect_app.api import stats as api_stats
    from inspect_app.api.contract import document_contract
    from inspect_app.web import (
        admin,
        auth,
        dashboard,
        hazards,
        inspections,
        offline,
        photos,
        reports,
    )
    from inspect_app.web import hazard_reports as web_hazard_reports
    from inspect_app.web import plans as web_plans
    from inspect_app.web import sites as web_sites

    for module in (api_auth, api_catalog, api_photos, api_inspections, api_hazards, api_stats):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(api_hazard_reports.router, prefix="/api/v1")
    app.include_router(api_plans.router, prefix="/api/v1")
    app.include_router(web_hazard_reports.router)  # /hazards/new before /hazards/{hazard_id}
    for module in (auth, offline, photos, inspections, hazards, dashboard, reports, admin):
        app.include_router(module.router)
    for module in (web_sites, web_plans):
        app.include_router(module.router)
    app.include_router(assets.router)
    app.mount("/static", assets.StaticAssets(), name="static")

    _document_error_details(app)
    document_contract(app)

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    def bearer_is_valid(token: str) -> bool:
        from inspect_app.domain import accounts

        with Session(app.state.engine) as session:
            return accounts.user_for_token(session, token, "token") is not None

    def is_static(path: str) -> bool:
        return path.startswith("/static/")

    # Added innermost first: TrustedProxies -> LocaleAndHeaders -> Revalidate -> SafetyNet ->
    # RequestGate -> Csrf -> routes.
    app.add_middleware(
        Csrf,
        secret=settings.secret_key,
        bearer_is_valid=bearer_is_valid,
        always_secure=settings.env == "production",
        max_body_bytes=settings.max_upload_bytes + 1024 * 1024,
    )
    app.add_middleware(
        RequestGate,
        limit=requests_at_once(app.state.engine),
        wait_seconds=REQUEST_GATE_WAIT_SECONDS,
        is_static=is_static,
    )
    app.add_middleware(SafetyNet, is_static=is_static)
    app.add_middleware(Revalidate)
    app.add_middleware(LocaleAndHeaders, settings=settings)
    app.add_middleware(TrustedProxies, networks=settings.trusted_proxy_networks)
    return app
