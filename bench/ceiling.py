"""The portal with the consent check's database work stubbed out, for ``bench.check --ceiling``.

``gunicorn -c gunicorn.conf.py bench.ceiling:app`` serves the real portal (every request hook,
the key's authentication from the cache, parsing, the decision engine, the decision's digest
and audit entry built, the JSON answer), except that a check reads no consent facts (so every
question is decided on no consent) and commits nothing. Its throughput against the yardstick
is the most the single-check ratio could reach with the same server configuration if the
database's share of a check cost nothing at all. Never serve it to anyone: it answers without
recording.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from typing import Any

from consent.check.service import CheckService, Consents
from portal.app import create_app

if os.environ.get("BENCH_CEILING") != "1":
    # It answers without recording: refuse to be served by anything but the benchmark.
    raise RuntimeError("bench.ceiling is served only by python -m bench.check --ceiling")

app = create_app()
_service: CheckService = app.extensions["consent.checks"]


def _no_read(caller: int, questions: Sequence[Any]
             ) -> tuple[int | None, dict[str, tuple[uuid.UUID, Consents]],
                        dict[uuid.UUID, tuple[uuid.UUID, Consents]]]:
    # The cached generation, so the reference data is not reloaded; no facts about anyone.
    return _service.refdata().generation, {}, {}


def _no_commit(work: Any) -> None:
    return None


_service._read = _no_read  # type: ignore[method-assign]
_service.committer.commit = _no_commit  # type: ignore[method-assign]
