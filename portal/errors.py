"""Typed errors raised by domain operations; views turn them into pages or problem JSON."""

from __future__ import annotations


class DomainError(Exception):
    """Base for errors a caller can act on."""

    status = 400
    code = "domain-error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know that it does."""

    status = 404
    code = "not-found"


class Invalid(DomainError):
    """A value is malformed or not allowed; ``field`` names it."""

    status = 422
    code = "invalid"


class Conflict(DomainError):
    """The request contradicts what is already recorded."""

    status = 409
    code = "conflict"


class GuardianRequired(Invalid):
    """A child under 13 can only be consented for by a recorded parent or guardian."""

    code = "guardian-required"


class InvalidTransition(Conflict):
    """The consent event makes no sense from the current state."""

    code = "invalid-transition"
