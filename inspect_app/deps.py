"""FastAPI dependencies shared by the web pages and the API: the app's settings and the
city's today, one DB session per request, the client's address, the signed-in user from the
session cookie or a bearer token, and role gates.

The ones that do no I/O are `async def`: FastAPI runs a plain `def` dependency in the thread
pool, and each such hop cost more CPU than the work it carried (five hops were a fifth of an
answer save). Only what reads the database runs in the pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from inspect_app.config import Settings
from inspect_app.domain import accounts
from inspect_app.domain.access import require_role as _require_role
from inspect_app.domain.clock import local_today
from inspect_app.domain.errors import NotAuthenticated
from inspect_app.i18n import _
from inspect_app.middleware import is_upload
from inspect_app.models import User
from inspect_app.security import SESSION_COOKIE


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request. It connects on first use (in the route's thread); closing it
    is I/O only while a transaction is open (the rollback), so only then in the pool."""
    session = Session(request.app.state.engine, expire_on_commit=False)
    try:
        yield session
    finally:
        if session.in_transaction():
            with anyio.CancelScope(shield=True):  # a cancelled request still returns its connection
                await run_in_threadpool(session.close)
        else:
            session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


async def get_today(settings: SettingsDep) -> date:
    """The local calendar day in the app's time zone (deadlines, overdue, ISO weeks)."""
    return local_today(settings.zone)


TodayDep = Annotated[date, Depends(get_today)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def bearer_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return None


def optional_user(request: Request, session: SessionDep) -> User | None:
    """The user of the bearer token or else of the session cookie; kept on request.state.

    A non-empty bearer token that is not valid is a 401, never a fallback to the cookie; an
    empty one counts as absent. middleware.Csrf exempts a request from the CSRF check only when
    its bearer token is valid, so a cookie reaching this point has passed the cookie rules."""
    user = None
    token = bearer_token(request)
    if token:
        user = accounts.user_for_token(session, token, "token")
        if user is None:  # a bad bearer token is an error, not a fallback to the cookie
            raise NotAuthenticated(_("Invalid or expired token."))
    elif cookie := request.cookies.get(SESSION_COOKIE):
        user = accounts.user_for_token(session, cookie, "cookie")
    if session.in_transaction() and is_upload(request.headers):
        # The body may take minutes from a phone on a slow link: no connection is held
        # meanwhile (the user stays loaded: the session does not expire on commit).
        session.commit()
    request.state.user = user
    return user


async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise NotAuthenticated(_("Sign in first."))
    return user


OptionalUser = Annotated[User | None, Depends(optional_user)]
CurrentUser = Annotated[User, Depends(current_user)]


def require_role(*roles: str):
    """A dependency that returns the current user if they hold one of the roles (else 403)."""

    async def dependency(user: CurrentUser) -> User:
        _require_role(user, *roles)
        return user

    return Depends(dependency)


OfficeUser = Annotated[User, require_role("office", "admin")]
OfficerUser = Annotated[User, require_role("officer", "office", "admin")]
InspectorUser = Annotated[User, require_role("inspector", "admin")]
AdminUser = Annotated[User, require_role("admin")]
