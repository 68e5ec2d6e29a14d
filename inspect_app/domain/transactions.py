"""Who owns the transaction (the rule is in inspect_app/domain/__init__.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlmodel import Session

P = ParamSpec("P")
R = TypeVar("R")


def user_action(fn: Callable[Concatenate[Session, P], R]) -> Callable[Concatenate[Session, P], R]:
    """Mark a domain function that is one user action: it commits at its end, and when it
    refuses (raises), everything it wrote or changed is rolled back before the caller sees the
    error, so the caller can render a page from a clean session without rolling back itself."""

    @functools.wraps(fn)
    def action(session: Session, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(session, *args, **kwargs)
        except BaseException:
            session.rollback()
            raise

    return action
