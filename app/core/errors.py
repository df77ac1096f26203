"""The AppError family: domain errors that carry their HTTP status and a stable code.

Services raise these; ``app.core.web.install_error_handlers`` turns them into
``{"error", "detail"}`` JSON under /api and a Vietnamese (or English) HTML page elsewhere.
"""

from __future__ import annotations

import errno
from typing import Any, ClassVar


class AppError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}

    def payload(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class NotAuthenticated(AppError):
    status_code = 401
    code = "not_authenticated"

    def __init__(self, detail: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class PermissionDenied(AppError):
    status_code = 403
    code = "permission_denied"


class CSRFFailed(PermissionDenied):
    code = "csrf_failed"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


class InvalidInput(AppError):
    status_code = 422
    code = "invalid_input"


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"

    def __init__(self, detail: str, *, retry_after: int, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, retry_after))})
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"


class Overloaded(ServiceUnavailable):
    """The process is at its limit (requests in progress, password hashes): try again later."""

    code = "overloaded"

    def __init__(self, detail: str, *, retry_after: int = 2, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, retry_after))})
        super().__init__(detail, **kwargs)


class InsufficientStorage(AppError):
    """The server's disk is full: nothing was recorded (RFC 4918's 507)."""

    status_code = 507
    code = "insufficient_storage"


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC (no space left on device) or EDQUOT (quota exceeded); for a database error (a
    SQLAlchemy DBAPIError wrapping the driver's), SQLITE_FULL or PostgreSQL's disk_full."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    driver_error = getattr(exc, "orig", None)
    return (
        getattr(driver_error, "sqlite_errorcode", None) == 13
        or getattr(driver_error, "sqlstate", None) == "53100"
    )
