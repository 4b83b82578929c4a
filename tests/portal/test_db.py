"""Identifiers made by portal.db."""

from __future__ import annotations

import uuid

from portal.db import new_uuids


def test_a_batch_of_ids_are_distinct_random_version_4_uuids() -> None:
    ids = new_uuids(1000)
    assert len(ids) == len(set(ids)) == 1000
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
    # each is what uuid.UUID makes of its own text: nothing half-set in the bits
    assert all(uuid.UUID(str(i)) == i for i in ids)
    assert new_uuids(0) == []
