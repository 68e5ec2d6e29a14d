"""POST /api/v1/auth/token: OAuth2 password form in, bearer token out; DELETE revokes it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from inspect_app.deps import CurrentUser, SessionDep, SettingsDep, bearer_token, client_address
from inspect_app.domain import accounts
from inspect_app.domain.errors import NotAuthenticated
from inspect_app.i18n import _
from inspect_app.schemas import TokenOut

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=TokenOut)
def issue_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> TokenOut:
    user = accounts.authenticate(
        session, settings, form.username, form.password, client_address(request)
    )
    return TokenOut(access_token=accounts.open_session(session, settings, user, kind="token"))


@router.delete("/auth/token", status_code=204, response_class=Response)
def revoke_token(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    """Revoke the bearer token this request carries (a browser signs out with POST /logout)."""
    token = bearer_token(request)
    if not token or not accounts.close_session(session, token, "token"):
        raise NotAuthenticated(_("Send the bearer token to revoke in the Authorization header."))
    return Response(status_code=204)
