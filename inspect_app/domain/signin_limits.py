"""Sign-in limits that hold under concurrency, across workers and servers.

Every attempt first *reserves* a slot in its buckets with one atomic statement
(INSERT ... ON CONFLICT DO UPDATE ... RETURNING, on SQLite and PostgreSQL), commits, and only
then is the password checked. Sixty simultaneous attempts therefore see the counts 1..60 and
only those within the limit reach the password check. A success gives its slot back.

Buckets, each over a fixed window (`login_window_minutes`) from its first failure:
- (user, address): `login_max_failures_per_user_address`, then that address is refused for that
  user until the window ends. Other addresses are not affected, so nobody can lock an inspector
  out from elsewhere.
- address: `login_max_failures_per_address` over all usernames (guessing many users).
- user, from every address: past `login_user_ceiling`, every further attempt waits a delay that
  doubles from 1 s up to `login_max_delay_seconds` (a slowdown against many addresses, never a
  hard lock).
"""

from __future__ import annotations

import hashlib
import math
import time

from sqlalchemy import text
from sqlmodel import Session

from inspect_app.config import Settings
from inspect_app.domain.errors import TooManyRequests
from inspect_app.i18n import _

_FAILURES = (
    "CASE WHEN login_throttle.window_start < :since THEN 1 ELSE login_throttle.failures + 1 END"
)
_WINDOW = (
    "CASE WHEN login_throttle.window_start < :since THEN :now ELSE login_throttle.window_start END"
)
_OVER = f"({_FAILURES}) > :ceiling"
_DELAY = (
    f"CASE WHEN {_OVER} THEN CASE WHEN login_throttle.delay * 2 > :cap THEN :cap"
    " WHEN login_throttle.delay < 1 THEN 1.0 ELSE login_throttle.delay * 2 END ELSE 0 END"
)
# One statement: count this attempt, start a new window when the old one is over, and past the
# ceiling push not_before out. The WHERE makes an attempt inside the delay change nothing (no row
# comes back). Every right-hand side reads the row as it was, on both databases.
_RESERVE = text(
    "INSERT INTO login_throttle (bucket, failures, window_start, not_before, delay)"
    " VALUES (:bucket, 1, :now, 0, 0)"
    " ON CONFLICT (bucket) DO UPDATE SET"
    f" failures = {_FAILURES}, window_start = {_WINDOW},"
    f" delay = {_DELAY}, not_before = CASE WHEN {_OVER} THEN :now + ({_DELAY}) ELSE 0 END"
    " WHERE login_throttle.not_before <= :now"
    " RETURNING failures, window_start"
)
_GIVE_BACK = text(
    "UPDATE login_throttle SET failures = failures - 1 WHERE bucket = :bucket AND failures > 0"
)
_RESET = text("DELETE FROM login_throttle WHERE bucket = :bucket")
_EXPIRED = "FROM login_throttle WHERE window_start < :since AND not_before < :now"
_PRUNE = text("DELETE " + _EXPIRED)
_COUNT_EXPIRED = text("SELECT count(*) " + _EXPIRED)


def _bucket(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _buckets(username: str, address: str) -> tuple[str, str, str]:
    return (
        _bucket("address", address),
        _bucket("user-address", username, address),
        _bucket("user", username),
    )


def _refuse(retry_after: float) -> TooManyRequests:
    return TooManyRequests(
        _("Too many failed sign-ins. Wait a few minutes and try again."),
        retry_after=max(1, math.ceil(retry_after)),
    )


def reserve(session: Session, settings: Settings, username: str, address: str) -> None:
    """Count this attempt in every bucket before the password is checked (committed at once, on
    a connection of its own); raise TooManyRequests when a limit is reached."""
    now = time.time()
    window = settings.login_window_minutes * 60
    by_address, by_user_address, by_user = _buckets(username, address)
    limits = (
        (by_address, settings.login_max_failures_per_address),
        (by_user_address, settings.login_max_failures_per_user_address),
    )
    params = {"now": now, "since": now - window, "cap": float(settings.login_max_delay_seconds)}
    with session.get_bind().connect() as conn:
        for bucket, limit in limits:
            # A plain bucket never delays: its ceiling is beyond reach.
            failures, started = conn.execute(
                _RESERVE, {**params, "bucket": bucket, "ceiling": 2**31}
            ).one()
            if failures > limit:
                conn.commit()
                raise _refuse(started + window - now)
        row = conn.execute(
            _RESERVE, {**params, "bucket": by_user, "ceiling": settings.login_user_ceiling}
        ).first()
        if row is None:  # inside the delay: nothing was counted
            not_before = conn.execute(
                text("SELECT not_before FROM login_throttle WHERE bucket = :b"), {"b": by_user}
            ).scalar_one()
            conn.commit()
            raise _refuse(not_before - now)
        conn.commit()


def succeeded(session: Session, settings: Settings, username: str, address: str) -> None:
    """The password was right: this (user, address) starts afresh, the other buckets get the
    reserved slot back, and buckets whose window is over are removed."""
    now = time.time()
    by_address, by_user_address, by_user = _buckets(username, address)
    with session.get_bind().begin() as conn:
        conn.execute(_RESET, {"bucket": by_user_address})
        for bucket in (by_address, by_user):
            conn.execute(_GIVE_BACK, {"bucket": bucket})
        conn.execute(_PRUNE, {"since": now - settings.login_window_minutes * 60, "now": now})


def prune(session: Session, settings: Settings, *, dry_run: bool = False) -> int:
    """Remove the buckets whose window and delay are over (`gc`); how many there were."""
    now = time.time()
    params = {"since": now - settings.login_window_minutes * 60, "now": now}
    with session.get_bind().begin() as conn:
        if dry_run:
            return conn.execute(_COUNT_EXPIRED, params).scalar_one()
        return conn.execute(_PRUNE, params).rowcount
