"""Password hashing (argon2), opaque session/API tokens stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults (RFC 9106 low-memory: t=3, m=64 MiB, p=4) in production. Only the test
# suite swaps in cheap parameters, once, through use_hasher() in tests/conftest.py.
_hasher = PasswordHasher()
# Verified when the username is unknown, so that a miss costs the same time as a wrong password.
_dummy_hash: str | None = None

SESSION_COOKIE = "inspect_session"


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


class _CsrfMultipartParser:
    """Stand-in for python-multipart's FormParser as asgi-csrf 0.11 calls it.

    asgi-csrf looks for the csrftoken field at the head of a multipart body with
    FormParser(..., FileClass=ErrorOnWrite), an argument python-multipart removed in 0.0.25, so
    a no-JS form with a file crashed instead of being checked. This parser keeps asgi-csrf's
    contract: on_field(field) for a plain field (field.field_name, field.value), and
    FileClass(...).write(data) for the first byte of a file part (which asgi-csrf refuses).
    """

    def __init__(
        self, content_type, on_field, on_end=None, boundary=None, FileClass=None, **_ignored
    ):
        from python_multipart import MultipartParser
        from python_multipart.multipart import parse_options_header

        self._on_field, self._file_class = on_field, FileClass
        headers: dict[bytes, bytes] = {}
        state = {"field": b"", "value": b"", "filename": None, "name": None}

        def header_field(data, start, end):
            state["field"] += data[start:end]

        def header_value(data, start, end):
            state["value"] += data[start:end]

        def header_end():
            headers[state["field"].lower()] = state["value"]
            state["field"], state["value"] = b"", b""

        def headers_finished():
            _, options = parse_options_header(headers.get(b"content-disposition", b""))
            state["name"], state["filename"] = options.get(b"name"), options.get(b"filename")
            state["data"] = b""

        def part_data(data, start, end):
            if state["filename"] is not None and self._file_class is not None:
                self._file_class(state["filename"], state["name"], {}).write(data[start:end])
            state["data"] += data[start:end]
            if len(state["data"]) > 4096:  # a token is short: stop buffering a huge field
                state["data"] = state["data"][:4096]

        def part_end():
            if state["filename"] is None:
                field = type("Field", (), {"field_name": state["name"], "value": state["data"]})()
                self._on_field(field)
            headers.clear()

        self._parser = MultipartParser(
            boundary,
            {
                "on_header_field": header_field,
                "on_header_value": header_value,
                "on_header_end": header_end,
                "on_headers_finished": headers_finished,
                "on_part_data": part_data,
                "on_part_end": part_end,
            },
        )

    def write(self, data: bytes) -> int:
        return self._parser.write(data)


def patch_asgi_csrf_multipart() -> None:
    """Use _CsrfMultipartParser inside asgi-csrf when python-multipart no longer takes FileClass."""
    import inspect

    import asgi_csrf
    from python_multipart import FormParser

    if "FileClass" not in inspect.signature(FormParser.__init__).parameters:
        asgi_csrf.FormParser = _CsrfMultipartParser
