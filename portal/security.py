"""Deny by default: every endpoint is public by name, or declares who may use it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# The only endpoints anyone may reach without an identity.
PUBLIC_ENDPOINTS = frozenset({"static", "public.index", "public.healthz", "api.openapi",
                              "ui.change_language", "public.exit_page",
                              "public.jwks"})

ACCESS_ATTR = "_portal_access"


PUBLIC = "public"


def access(rule: str) -> Callable[[F], F]:
    """Declare who may call a view (``"public"``, ``"api:<scope>"``, ``"staff:<roles>"``,
    ``"account"``). The decorator that enforces a rule sets it; ``public`` enforces nothing."""

    def mark(view: F) -> F:
        setattr(view, ACCESS_ATTR, rule)
        return view

    return mark


def public(view: F) -> F:
    """Mark a view as open to anyone (information pages, sign-in, registration)."""
    return access(PUBLIC)(view)


def is_public(endpoint: str, view: Callable[..., Any] | None) -> bool:
    """True if anyone may reach this endpoint without an identity."""
    return endpoint in PUBLIC_ENDPOINTS or access_rule(view) == PUBLIC


def access_rule(view: Callable[..., Any] | None) -> str | None:
    """The access rule a view declared, if any."""
    return getattr(view, ACCESS_ATTR, None)
