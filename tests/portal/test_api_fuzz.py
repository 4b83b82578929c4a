"""Schemathesis against the live API: every operation, valid and invalid input, no 5xx, and
every answer exactly as /api/v1/openapi.json describes it (status, media type, headers, body,
RFC 9457 problems for every refusal, and invalid input refused, never accepted).

The run is bounded (schemathesis's deterministic coverage cases, plus a few derandomised
generated examples per operation and mode) so that it belongs in the normal suite; raise
``PORTAL_FUZZ_EXAMPLES`` for a longer hunt.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from portal import create_app
from portal.audit import Actor
from portal.database import get_database
from portal.identity.models import Role
from portal.models import Holding
from sar import operations as sar_ops
from tests.conftest import bearer, make_config
from tests.identity_helpers import make_staff

EXAMPLES = int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection,
          ignored_auth]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
STAFF = Actor("staff", "fuzz", None)


def _open_sar_task(session: Session) -> str:
    """A verified SAR request with an open task for the police, so task routes answer 200."""
    officer = make_staff(session, "fenshire-police", Role.SAR_OFFICER)
    holding = session.scalar(select(Holding).where(Holding.agency_ref == "FP-DEMO-0004"))
    assert holding is not None
    new = sar_ops.NewRequest(requester_name="Morgan Lee",
                             requester_email="morgan.lee@example.org",
                             subject_name="Morgan Lee", documents=[("identity", PNG)])
    sar = sar_ops.file_request(session, new, actor=STAFF, today=dt.date(2026, 11, 2))
    sar_ops.verify_identity(session, sar, subject_id=holding.subject_id, staff_id=officer.id,
                            method="document", today=dt.date(2026, 11, 3), actor=STAFF)
    session.commit()
    return str(next(t.id for t in sar.tasks if t.agency.slug == "fenshire-police"))


@pytest.fixture
def live_api(db_url: str, tmp_path: Path, session: Session, demo: Any,
             api_key: Callable[..., str]) -> Iterator[tuple[str, str, str]]:
    """A threaded server on a real port, a key with every scope, and an open SAR task."""
    key = api_key("fenshire-police", "consent:check", "holdings:write", "sar:supply")
    task_id = _open_sar_task(session)
    app = create_app(make_config(db_url, tmp_path / "instance", rate_limits=False))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", key, task_id
    server.shutdown()
    get_database(app).engine.dispose()


def _run(strategy: Any, base_url: str, headers: dict[str, str]) -> None:
    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=30)

    run()


def test_every_operation_answers_as_documented(live_api: tuple[str, str, str]) -> None:
    # Given the live API, its published document and a key holding every scope
    base_url, key, task_id = live_api
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    headers = bearer(key)
    started = time.monotonic()
    failures: list[str] = []
    seen: list[str] = []
    # When every operation gets generated valid and invalid requests
    for result in schema.get_all_operations():
        operation = result.ok()
        seen.append(operation.label)
        variants: list[tuple[str, Any]] = [
            (mode.value, operation.as_strategy(generation_mode=mode))
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
        if "{task_id}" in operation.path:
            # The real task too, so that the answers with a body are checked, not only 404s.
            variants.append(("real task", operation.as_strategy(
                generation_mode=GenerationMode.POSITIVE, path_parameters={"task_id": task_id})))
        for name, strategy in variants:
            try:
                _run(strategy, base_url, headers)
            except (FailureGroup, Exception) as exc:  # noqa: BLE001 - all collected and shown
                failures.append(f"{operation.label} [{name}]: {exc}")
        # Schemathesis's coverage phase: each boundary and each kind of wrong value, once.
        config = schema.config.generation_for(operation=operation)
        for case in schema.iter_coverage_cases(operation, generation_config=config,
                                               generation_modes=list(GenerationMode)):
            try:
                case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS,
                                       timeout=30)
            except (FailureGroup, Exception) as exc:  # noqa: BLE001 - all collected and shown
                failures.append(f"{operation.label} [coverage]: {exc}")
    # Then every operation was tried, and nothing answered 5xx or outside the document
    documented = {f"{method.upper()} {path}" for path, item in schema.raw_schema["paths"].items()
                  for method in item if method != "parameters"}
    # Schemathesis leaves out the document it was loaded from (tests/portal/test_openapi.py).
    assert set(seen) == documented - {"GET /api/v1/openapi.json"}
    assert not failures, "\n\n".join(failures)
    if EXAMPLES <= 8:  # the suite's bounded run stays well inside a minute per engine
        assert time.monotonic() - started < 60
