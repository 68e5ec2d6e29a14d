"""The administration audit log: who changed what (users, sites, districts, templates).

record() only adds the row: the caller's commit writes it together with the change it describes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from inspect_app.models import AuditLog, User


def record(
    session: Session,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    row = AuditLog(
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        detail=detail,
    )
    session.add(row)
    return row


def list_entries(
    session: Session, *, limit: int = 50, offset: int = 0
) -> tuple[list[tuple[AuditLog, str]], int]:
    """Newest first, each with the actor's username ("" for the command line)."""
    total = session.exec(select(func.count()).select_from(AuditLog)).one()
    rows = session.exec(
        select(AuditLog, User.username)
        .join(User, User.id == AuditLog.actor_id, isouter=True)
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return [(row, name or "") for row, name in rows], total
