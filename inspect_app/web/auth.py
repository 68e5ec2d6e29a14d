"""Sign-in, sign-out, the role-aware home and the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from inspect_app.deps import OptionalUser, SessionDep, SettingsDep, bearer_token, client_address
from inspect_app.domain import accounts
from inspect_app.domain.errors import NotAuthenticated, TooManyRequests
from inspect_app.i18n import SUPPORTED
from inspect_app.models import Role
from inspect_app.security import SESSION_COOKIE
from inspect_app.web.rendering import render

router = APIRouter(include_in_schema=False)

# Where each role starts its day.
ROLE_HOME = {
    Role.inspector: "/inspections",
    Role.officer: "/hazards",
    Role.office: "/dashboard",
    Role.admin: "/admin",
}


def safe_next(target: str | None) -> str:
    """Only local paths: never redirect a signed-in user to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/")
def home(user: OptionalUser):
    if user is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(ROLE_HOME.get(user.role, "/login"), status_code=303)


@router.get("/login")
def login_page(request: Request, user: OptionalUser, next: str = "/"):
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(
        request, "auth/login.html", {"next": safe_next(next), "error": None, "username": ""}
    )


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form()] = "/",
):
    try:
        user = accounts.authenticate(session, settings, username, password, client_address(request))
    except (NotAuthenticated, TooManyRequests) as exc:
        return render(
            request,
            "auth/login.html",
            {"next": safe_next(next), "error": exc.message, "username": username},
            status_code=exc.status_code,
        )
    old = request.cookies.get(SESSION_COOKIE)
    if old:  # rotate: the pre-login session is never reused
        accounts.close_session(session, old, "cookie")
    token = accounts.open_session(session, settings, user, kind="cookie")
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request, settings),
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep):
    """Ends the browser session and, when the request carries one, revokes the bearer token."""
    for token, kind in (
        (request.cookies.get(SESSION_COOKIE), "cookie"),
        (bearer_token(request), "token"),
    ):
        if token:
            accounts.close_session(session, token, kind)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{code}")
def switch_language(code: str, request: Request, settings: SettingsDep):
    target = safe_next(request.headers.get("referer", "/").split(request.url.netloc, 1)[-1])
    response = RedirectResponse(target, status_code=303)
    if code in SUPPORTED:
        response.set_cookie(
            "lang",
            code,
            max_age=365 * 86400,
            samesite="lax",
            httponly=True,
            secure=secure_cookies(request, settings),
        )
    return response


def secure_cookies(request: Request, settings) -> bool:
    """HTTPS as the client sees it (directly or through a trusted proxy), or production."""
    return request.url.scheme == "https" or settings.env == "production"
