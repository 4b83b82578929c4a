"""The app's JSON answers: orjson's speed, Flask's keys, order and values."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from consent.engine import Reason


@dataclasses.dataclass
class Point:
    x: int
    label: str


BODIES: list[Any] = [
    {"b": 1, "a": [True, None, 1.5], "z": {"é": "Zażółć gęślą jaźń – ☃ 😀", "ctl": "\x01\n\""}},
    {"when": dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.UTC), "day": dt.date(2026, 11, 26),
     "id": uuid.UUID(int=7), "reason": Reason.WITHDRAWN, "point": Point(1, "p")},
    {"huge": 2**70},
    {"n": {10: "keys that are not text", 9: "sort as numbers"}},
    [],
]


@pytest.mark.parametrize("body", BODIES)
def test_an_answer_is_what_flask_would_send(app: Flask, body: Any) -> None:
    with app.app_context():
        # Given Flask's own provider beside the app's
        ours, flasks = app.json.response(body), DefaultJSONProvider(app).response(body)
    # Then the same JSON value comes out, keys in the same order, as application/json
    assert json.loads(ours.data) == json.loads(flasks.data)
    assert list(_keys(json.loads(ours.data))) == list(_keys(json.loads(flasks.data)))
    assert ours.mimetype == "application/json" and ours.data.endswith(b"\n")


def test_dumps_is_compact_and_sorted_unless_asked_otherwise(app: Flask) -> None:
    assert app.json.dumps({"b": 1, "a": "ł"}) == '{"a":"ł","b":1}'
    assert app.json.dumps({"b": 1, "a": 2}, separators=(", ", ": ")) == '{"a": 2, "b": 1}'
    assert app.json.dumps({"a": 1}, indent=1) == '{\n "a": 1\n}'


def _keys(value: Any) -> Any:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v)
