"""The canonical JSON that audit hashes cover: the fast encoder gives the reference's bytes.

Chains, event digests and signed heads written before orjson was used were hashed over the
standard library's bytes; ``audit verify`` recomputes them with ``canonical_json``, so any
difference on what those bodies hold would report an intact chain as broken.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, NamedTuple

from hypothesis import given, settings
from hypothesis import strategies as st

from consent.engine import Reason
from portal import audit

REFERENCE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                             default=str)


class Pair(NamedTuple):
    left: int
    right: str


# What hashed bodies hold: text of any script (control characters, quotes, backslashes,
# emoji; never a lone surrogate, which cannot be hashed as UTF-8 either way), integers,
# None, booleans, lists and objects of them, and values written with str().
scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
           | st.text() | st.uuids()
           | st.datetimes(timezones=st.just(dt.UTC)) | st.dates()
           | st.sampled_from(list(Reason)))
values = st.recursive(
    scalars,
    lambda inner: (st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5)
                   | st.tuples(inner, inner)),
    max_leaves=20)


@settings(max_examples=500)
@given(values)
def test_the_fast_encoder_gives_the_reference_bytes(value: Any) -> None:
    assert audit.canonical_json(value) == REFERENCE.encode(value)


@given(st.text(), st.text(), st.integers(min_value=0, max_value=2**31), st.text())
def test_an_entry_tail_is_the_reference_encoding(actor: str, action: str, agency: int,
                                                details: str) -> None:
    at = dt.datetime(2026, 11, 26, 15, 0, 0, 123456, tzinfo=dt.UTC)
    subject = uuid.UUID(int=7)
    tail = audit.entry_tail(at, "staff", actor, agency, action, subject, "thing", "1", details)
    assert "[" + tail == REFERENCE.encode(
        [audit.stamp(at), "staff", actor, agency, action, str(subject), "thing", "1", details])


def test_what_orjson_refuses_gets_the_reference_bytes() -> None:
    # Given values orjson will not encode: a huge integer, keys that are not text, deep lists
    deep: list[Any] = []
    for _ in range(300):
        deep = [deep]
    for value in (2**70, {1: "a", 2: "b"}, {None: 1}, deep, Pair(1, "x"), {"p": Pair(2, "y")}):
        # When encoded canonically, Then the bytes are the standard library's
        assert audit.canonical_json(value) == REFERENCE.encode(value)
