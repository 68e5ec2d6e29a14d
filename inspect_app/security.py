"""Password hashing (argon2), opaque session/API tokens stored only as hashes, and the CSRF
tokens (bound to the session cookie)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults (RFC 9106 low-memory: t=3, m=64 MiB, p=4) in production. Only the test
# suite swaps in cheap parameters, once, through use_hasher() in tests/conftest.py.
_hasher = PasswordHasher()
# Verified when the username is unknown, so that a miss costs the same time as a wrong password.
_dummy_hash: str | None = None

SESSION_COOKIE = "inspect_session"
CSRF_COOKIE = "csrftoken"  # also the form field name
CSRF_HEADER = "x-csrftoken"


def use_hasher(hasher: PasswordHasher) -> None:
    """Replace the hashing parameters for new hashes (tests only; stored hashes carry their own)."""
    global _hasher, _dummy_hash
    _hasher, _dummy_hash = hasher, None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    global _dummy_hash
    if password_hash is None and _dummy_hash is None:
        _dummy_hash = _hasher.hash("not-a-real-password")
    try:
        return _hasher.verify(password_hash or _dummy_hash, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password() -> str:
    """A password a person can type on a phone: 12 characters, no look-alikes."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


def _mac(secret: str, purpose: str, value: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}|{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_token_for_session(secret: str, session_token: str) -> str:
    """The CSRF token of a signed-in browser: derived from its session cookie, so it is worthless
    for another session and changes whenever sign-in rotates the session."""
    return "s." + _mac(secret, "csrf-session", session_token)


def new_anonymous_csrf_token(secret: str) -> str:
    """A signed random token for a browser without a session (the sign-in form)."""
    nonce = secrets.token_urlsafe(18)
    return f"a.{nonce}.{_mac(secret, 'csrf-anon', nonce)}"


def is_anonymous_csrf_token(secret: str, token: str | None) -> bool:
    parts = (token or "").split(".")
    return (
        len(parts) == 3
        and parts[0] == "a"
        and hmac.compare_digest(parts[2], _mac(secret, "csrf-anon", parts[1]))
    )
