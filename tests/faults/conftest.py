"""Fault tests run real processes; PostgreSQL-only ones run whenever PostgreSQL is asked for."""

from __future__ import annotations

import pytest

from tests.conftest import REQUESTED


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave PostgreSQL-only tests out of a run that did not ask for PostgreSQL at all."""
    if "postgresql" in REQUESTED:
        return
    kept = [i for i in items if i.get_closest_marker("postgresql_only") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept
