"""Who owns the transaction (the rule is in inspect_app/domain/__init__.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

P = ParamSpec("P")
R = TypeVar("R")
_WROTE = "inspect.wrote"  # session.info key: something was flushed in the open transaction


@event.listens_for(OrmSession, "after_flush")
def _remember_the_write(session: OrmSession, _context) -> None:
    session.info[_WROTE] = True


@event.listens_for(OrmSession, "after_transaction_end")
def _forget_the_write(session: OrmSession, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_WROTE, None)


def user_action(fn: Callable[Concatenate[Session, P], R]) -> Callable[Concatenate[Session, P], R]:
    """Mark a domain function that is one user action: it commits at its end, and when it
    refuses (raises) after changing or writing anything, all of it is rolled back before the
    caller sees the error, so the caller renders the problem from a clean session and never
    rolls back itself. A refusal before any change rolls back nothing: a rollback expires every
    loaded object, and the error page still shows the signed-in user after the session closed."""

    @functools.wraps(fn)
    def action(session: Session, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(session, *args, **kwargs)
        except BaseException:
            if session.new or session.dirty or session.deleted or session.info.get(_WROTE):
                session.rollback()
            raise

    return action
