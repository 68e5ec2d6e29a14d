"""Domain failures. The web and API layers map each class to one HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    headers: dict[str, str] | None = None  # extra response headers (e.g. Retry-After)

    def __init__(self, message: str, *, errors: Any = None):
        super().__init__(message)
        self.message = message
        self.errors = errors  # e.g. {field: message} or a list of row problems

    headers: dict[str, str] | None = None

    @property
    def detail(self) -> Any:
        if self.errors is None:
            return str(self.message)
        return {"message": str(self.message), "errors": self.errors}


class Invalid(DomainError):
    """The input breaks a rule (incomplete plan, missing answers...)."""

    status_code = 422


class NotAuthenticated(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


class NotFound(DomainError):
    """Also used for objects the user may not see, so that their existence is not revealed."""

    status_code = 404


class Conflict(DomainError):
    """An illegal or stale state transition, a duplicate."""

    status_code = 409


class TooLarge(DomainError):
    status_code = 413


class UnsupportedMedia(DomainError):
    status_code = 415


class TooManyRequests(DomainError):
    status_code = 429

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        if retry_after:
            self.headers = {"Retry-After": str(retry_after)}
        self.retry_after = retry_after


class Busy(DomainError):
    """The server cannot take this now (e.g. the decode budget is held); the client retries later."""

    status_code = 503

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}
