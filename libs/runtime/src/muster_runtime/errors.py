"""Errors that map to HTTP answers with a machine-readable body."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class MusterError(Exception):
    """Base of errors the edge turns into a 4xx answer: `{"error": {"code", "message", ...}}`."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code


class AuthenticationError(MusterError):
    status = 401
    code = "unauthenticated"


class PermissionDeniedError(MusterError):
    status = 403
    code = "forbidden"


class NotFoundError(MusterError):
    status = 404
    code = "not_found"


class GoneError(MusterError):
    status = 410
    code = "gone"


class ConflictError(MusterError):
    status = 409
    code = "conflict"


class PayloadTooLargeError(MusterError):
    status = 413


class UnsupportedMediaTypeError(MusterError):
    status = 415


class PreconditionFailedError(MusterError):
    """The resource moved on from the version the caller's `If-Match` names."""

    status = 412
    code = "precondition_failed"


class PreconditionRequiredError(MusterError):
    """A change that must name the version it was decided on (`If-Match`) came without it."""

    status = 428
    code = "precondition_required"


class TooManyRequestsError(MusterError):
    """Too many attempts for now; the answer says when to try again (`Retry-After`)."""

    status = 429
    code = "too_many_requests"

    def __init__(
        self, message: str, *, retry_after_seconds: int, code: str | None = None, **details: Any
    ) -> None:
        super().__init__(message, code=code, retry_after_seconds=retry_after_seconds, **details)
        self.retry_after_seconds = retry_after_seconds


class ServiceUnavailableError(MusterError):
    """A dependency is away (the broker, the identity provider): nothing was done; retry."""

    status = 503
    code = "unavailable"


class RuleViolationError(MusterError):
    """A well-formed request that breaks a domain rule (field and rule named in details)."""

    status = 422
    code = "rule_violated"


class ErrorDetail(BaseModel):
    """What went wrong: a stable `code` to branch on, a message for people, and where."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Machine-readable, e.g. `invitation_expired`.")
    message: str
    field: str | None = None
    rule: str | None = None
    reason: str | None = Field(
        default=None, description="401: missing, invalid, expired, revoked; 403: wrong_role."
    )
    fields: list[dict[str, Any]] | None = None


class ErrorAnswer(BaseModel):
    """The body of every 4xx and 5xx answer (documented in the OpenAPI)."""

    error: ErrorDetail
