"""Users, sign-in with rate limiting, and server-side sessions and API tokens."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import bindparam, delete, func
from sqlmodel import Session, select

from inspect_app.config import Settings
from inspect_app.domain import audit, signin_limits
from inspect_app.domain.errors import Conflict, Invalid, NotAuthenticated, NotFound
from inspect_app.domain.transactions import user_action
from inspect_app.i18n import _
from inspect_app.models import AuthSession, District, LoginAttempt, Role, User, utcnow
from inspect_app.security import (
    generate_password,
    hash_password,
    new_token,
    token_hash,
    verify_password,
)

ROLES_WITH_DISTRICT = {Role.inspector, Role.officer}


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def check_email(email: str | None) -> str | None:
    """An optional e-mail address for notices: None when blank, else checked (one address)."""
    email = (email or "").strip()
    if not email:
        return None
    if len(email) > 254 or not EMAIL.match(email):
        raise Invalid(
            _("Not an e-mail address: {email}").format(email=email),
            errors={"email": _("Not an e-mail address.")},
        )
    return email


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    district_name: str | None = None,
    display_name: str = "",
    actor_id: int | None = None,
    email: str | None = None,
) -> User:
    """Add a user; inspectors and officers belong to a district. An admin's addition is audited."""
    username = username.strip()
    email = check_email(email)
    if not username or len(username) > 64:
        raise Invalid(_("A username of 1 to 64 characters is required."))
    if role not in Role.__members__:
        raise Invalid(_("Unknown role: {role}").format(role=role))
    if len(password) < 8:
        raise Invalid(_("The password must have at least 8 characters."))
    district_id = None
    if district_name:
        district = session.exec(select(District).where(District.name == district_name)).first()
        if district is None:
            raise Invalid(_("Unknown district: {name}").format(name=district_name))
        district_id = district.id
    if role in ROLES_WITH_DISTRICT and district_id is None:
        raise Invalid(_("An inspector or officer needs a district."))
    if session.exec(select(User).where(User.username == username)).first():
        raise Invalid(_("The username {name} is taken.").format(name=username))
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        district_id=district_id,
        email=email,
    )
    session.add(user)
    if actor_id is not None:
        session.flush()
        audit.record(
            session,
            actor_id,
            "user.add",
            "user",
            user.id,
            {"username": username, "role": role, "district": district_name},
        )
    session.commit()
    session.refresh(user)
    return user


def authenticate(
    session: Session, settings: Settings, username: str, password: str, address: str
) -> User:
    """Check a password within the sign-in limits (domain/signin_limits.py): the attempt is
    counted before the password is checked, so concurrent attempts cannot overrun a limit.

    The error never says whether the user exists. A name with a NUL character (no account can
    have one) is counted under a storable stand-in and matches nobody.
    """
    username = username.replace("\x00", "\ufffd")
    signin_limits.reserve(session, settings, username, address)
    user = session.exec(select(User).where(User.username == username)).first()
    ok = verify_password(user.password_hash if user else None, password)
    ok = ok and user is not None and user.is_active
    if ok:
        signin_limits.succeeded(session, settings, username, address)
    session.add(LoginAttempt(username=username[:64], address=address[:64], at=utcnow(), success=ok))
    session.commit()
    if not ok:
        raise NotAuthenticated(_("Wrong username or password."))
    return user


def open_session(session: Session, settings: Settings, user: User, kind: str = "cookie") -> str:
    """A new random token (the old cookie is not reused: sign-in rotates the session)."""
    token = new_token()
    days = settings.session_days if kind == "cookie" else settings.token_days
    session.add(
        AuthSession(
            token_hash=token_hash(token),
            user_id=user.id,
            kind=kind,
            expires_at=utcnow() + timedelta(days=days),
        )
    )
    session.commit()
    return token


# Built once (every request runs it): a statement built anew costs its construction and its
# cache key each time, nearly as much as running it.
_USER_BY_TOKEN = (
    select(User, AuthSession.expires_at)
    .join(AuthSession, AuthSession.user_id == User.id)
    .where(AuthSession.token_hash == bindparam("token_hash"), AuthSession.kind == bindparam("kind"))
)


def user_for_token(session: Session, token: str, kind: str) -> User | None:
    """The active user of a session or token that has not expired; one statement, because
    every request asks."""
    found = session.exec(
        _USER_BY_TOKEN, params={"token_hash": token_hash(token), "kind": kind}
    ).first()
    if found is None:
        return None
    user, expires_at = found
    return user if user.is_active and expires_at > utcnow() else None


def prune_expired_sessions(session: Session, *, dry_run: bool = False) -> int:
    """Remove sessions and tokens past their expiry (`gc`); how many there were."""
    expired = AuthSession.expires_at <= utcnow()
    if dry_run:
        return session.exec(select(func.count()).select_from(AuthSession).where(expired)).one()
    removed = session.exec(delete(AuthSession).where(expired)).rowcount
    session.commit()
    return removed


def close_session(session: Session, token: str, kind: str | None = None) -> bool:
    """End a browser session or revoke an API token; True if there was one to end."""
    query = delete(AuthSession).where(AuthSession.token_hash == token_hash(token))
    if kind is not None:
        query = query.where(AuthSession.kind == kind)
    ended = session.exec(query).rowcount
    session.commit()
    return bool(ended)


# --- administration ---------------------------------------------------------------------------


def list_users(
    session: Session, *, q: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[User], int]:
    query = select(User)
    if q:
        query = query.where(
            User.username.contains(q.strip()) | User.display_name.contains(q.strip())
        )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(User.is_active.desc(), User.username).offset(offset).limit(limit)
    ).all()
    return list(rows), total


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_("No such user."))
    return user


def _keep_an_admin(session: Session, user: User) -> None:
    """Refuse to leave the system without an active admin."""
    others = session.exec(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.admin, User.is_active.is_(True), User.id != user.id)
    ).one()
    if user.role == Role.admin and user.is_active and others == 0:
        raise Conflict(_("This is the last active admin; make another admin first."))


def _end_sessions(session: Session, user_id: int) -> None:
    session.exec(delete(AuthSession).where(AuthSession.user_id == user_id))


@user_action
def update_user(
    session: Session,
    actor_id: int,
    user_id: int,
    *,
    role: str,
    district_name: str | None,
    display_name: str,
    email: str | None = None,
) -> User:
    """Change a user's role, district, display name and e-mail for notices (the last active
    admin keeps the admin role)."""
    user = _user(session, user_id)
    email = check_email(email)
    if role not in Role.__members__:
        raise Invalid(_("Unknown role: {role}").format(role=role))
    district = None
    if district_name:
        district = session.exec(select(District).where(District.name == district_name)).first()
        if district is None:
            raise Invalid(_("Unknown district: {name}").format(name=district_name))
    if role in ROLES_WITH_DISTRICT and district is None:
        raise Invalid(_("An inspector or officer needs a district."))
    if role != Role.admin:
        _keep_an_admin(session, user)
    fields = ("role", "district_id", "display_name", "email")
    before = {k: getattr(user, k) for k in fields}
    user.role, user.district_id = role, district.id if district else None
    user.display_name = (display_name.strip() or user.username)[:100]
    user.email = email
    session.add(user)
    after = {k: getattr(user, k) for k in fields}
    audit.record(
        session,
        actor_id,
        "user.edit",
        "user",
        user.id,
        {k: [before[k], v] for k, v in after.items() if before[k] != v},
    )
    session.commit()
    return user


def reset_password(session: Session, actor_id: int, user_id: int) -> str:
    """A new generated password (shown once to the admin); the user's sessions and tokens end."""
    user = _user(session, user_id)
    password = generate_password()
    user.password_hash = hash_password(password)
    session.add(user)
    _end_sessions(session, user.id)
    audit.record(session, actor_id, "user.password", "user", user.id, {"username": user.username})
    session.commit()
    return password


@user_action
def set_active(session: Session, actor_id: int, user_id: int, active: bool) -> User:
    """Deactivate (their sessions and tokens end at once) or reactivate a user."""
    user = _user(session, user_id)
    if not active:
        _keep_an_admin(session, user)
        _end_sessions(session, user.id)
    user.is_active = active
    session.add(user)
    audit.record(
        session,
        actor_id,
        "user.activate" if active else "user.deactivate",
        "user",
        user.id,
        {"username": user.username},
    )
    session.commit()
    return user
