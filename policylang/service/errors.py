"""The service's errors: each one a status and a JSON body ``{"error": {"code", "message", "field"?}}``."""

from __future__ import annotations

import re

from policylang.errors import PolicylangError

# (status, code) of each kind of failure, as the OpenAPI document lists them
STATUS = {
    "malformed_json": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "too_large": 413,
    "invalid": 422,
    "rate_limited": 429,
    "internal": 500,
    "unavailable": 503,
}


class ServiceError(Exception):
    """A request the service answers with an error status; ``code`` is a key of :data:`STATUS`."""

    def __init__(self, code: str, message: str, *, field: str | None = None, hint: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        assert code in STATUS, code
        self.code = code
        self.message = message
        self.field = field
        self.hint = hint
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return STATUS[self.code]

    def body(self) -> dict[str, object]:
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        if self.hint:
            error["hint"] = self.hint
        return {"error": error}


_FIELD = re.compile(r"(?:field|attribute) `([^`]+)`|has no `([^`]+)` field|unknown field `([^`]+)`")


def invalid(exc: PolicylangError, prefix: str) -> ServiceError:
    """A 422 for an input that breaks the contract, naming the field (``request.at``) when it can."""
    found = _FIELD.search(exc.message)
    name = next((g for g in found.groups() if g), None) if found else None
    field = f"{prefix}.{name}" if name else prefix
    hint = exc.hint or (f"expected {exc.expected}" if exc.expected else None)
    return ServiceError("invalid", f"{prefix}: {exc.message}", field=field, hint=hint)
