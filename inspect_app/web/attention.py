"""The "needs attention" counts at the top of each role's home page (templates/_attention.html)."""

from __future__ import annotations

from fastapi import Request
from sqlmodel import Session

from inspect_app.domain import clock, notify, plans
from inspect_app.domain.clock import local_today
from inspect_app.models import Role, User


def attention_for(request: Request, session: Session, user: User) -> list[notify.AttentionItem]:
    settings = request.app.state.settings
    today = local_today(settings.zone)
    planned = (
        len(plans.pending_site_ids(session, user, today)) if user.role == Role.inspector else 0
    )
    return notify.attention(
        session,
        user,
        now=clock.now(),
        soon_days=settings.due_soon_days,
        escalate_days=settings.escalate_days,
        zone=settings.zone,
        planned=planned,
    )
