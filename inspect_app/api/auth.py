"""POST /api/v1/auth/token: OAuth2 password form in, bearer token out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from inspect_app.deps import SessionDep, SettingsDep, client_address
from inspect_app.domain import accounts
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
