"""Identifiers made by portal.db."""

from __future__ import annotations

import time
import uuid

from portal.database import new_time_ordered_uuids


def test_time_ordered_ids_are_version_7_with_the_time_and_random_bits() -> None:
    before = time.time_ns() // 1_000_000
    ids = new_time_ordered_uuids(1000)
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 1000 and new_time_ordered_uuids(0) == []
    for i in ids:
        # RFC 9562: version 7, the RFC 4122 variant, Unix milliseconds in the first 48 bits
        assert i.version == 7 and i.variant == uuid.RFC_4122
        assert before <= i.int >> 80 <= after
        assert uuid.UUID(str(i)) == i
    # the 74 random bits vary in every position (a bit stuck at 0 or 1 would show here)
    rand_a = {(i.int >> 64) & 0xFFF for i in ids}
    rand_b = [i.int & ((1 << 62) - 1) for i in ids]
    assert len(rand_a) > 500
    for bit in range(62):
        ones = sum(r >> bit & 1 for r in rand_b)
        assert 350 < ones < 650, bit


def test_time_ordered_ids_sort_by_the_time_they_were_made() -> None:
    first = new_time_ordered_uuids(10)
    time.sleep(0.002)
    later = new_time_ordered_uuids(10)
    assert max(first) < min(later)
    assert max(i.hex for i in first) < min(i.hex for i in later)  # SQLite's text form too
