"""Domain errors raised by services; the web and API edges map them to responses."""

from __future__ import annotations


class DomainError(Exception):
    """Base: a rule of the domain refused the operation. ``message`` is shown to the user."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    """The object changed under us (already completed, concurrent change)."""

    status = 409


class ValidationFailed(DomainError):
    status = 422

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}
