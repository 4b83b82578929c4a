"""Schemathesis against the live API, as CI runs it: every check schemathesis has, every phase
(examples, coverage, fuzzing and the stateful phase, which follows the document's links from
real SAR tasks to their routes), and zero failures of any class, on both engines.

The run is bounded (a few examples per operation, a fixed seed) so that it belongs in the
normal suite; raise ``PORTAL_FUZZ_EXAMPLES`` for a longer hunt.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from portal.app import create_app
from portal.audit import Actor
from portal.database import get_database
from portal.identity.models import Role
from portal.reference.models import Agency, Holding
from sar import operations as sar_ops
from sar.models import SarTask
from tests.conftest import make_config
from tests.identity_helpers import make_staff

EXAMPLES = int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "12"))
STAFF = Actor("staff", "fuzz", None)
ST = Path(sys.executable).with_name("st")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")


def seed_sar_tasks(session: Session, agency: str = "fenshire-police", *,
                   per_person: int = 5) -> list[str]:
    """Verified SAR requests about each person the agency holds, so that the agency has real
    open tasks for the stateful phase to follow links to; their ids."""
    officer = make_staff(session, agency, Role.SAR_OFFICER)
    agency_id = session.scalar(select(Agency.id).where(Agency.slug == agency))
    holdings = session.scalars(select(Holding).where(Holding.agency_id == agency_id)
                               .order_by(Holding.agency_ref)).all()
    tasks: list[str] = []
    # Several requests about each person: the stateful phase answers tasks as it goes.
    for holding in [h for h in holdings for _ in range(per_person)]:
        new = sar_ops.NewRequest(requester_name="Morgan Lee",
                                 requester_email="morgan.lee@example.org",
                                 subject_name="Morgan Lee", identity_method="in-person")
        sar = sar_ops.file_request(session, new, actor=STAFF, today=dt.date.today())
        sar_ops.verify_identity(session, sar, subject_id=holding.subject_id,
                                staff_id=officer.id, method="in-person",
                                note="seen in person with a passport",
                                today=dt.date.today(), actor=STAFF)
        tasks += [str(t.id) for t in sar.tasks if t.agency_id == agency_id]
    session.commit()
    assert len(tasks) >= 3
    return tasks


@pytest.fixture
def live_api(db_url: str, tmp_path: Path, session: Session, demo: Any,
             api_key: Callable[..., str]) -> Iterator[tuple[str, str, list[str]]]:
    """A threaded server on a real port, a key with every scope, and real open SAR tasks."""
    key = api_key("fenshire-police", "consent:check", "holdings:write", "sar:supply")
    tasks = seed_sar_tasks(session)
    app = create_app(make_config(db_url, tmp_path / "instance", rate_limits=False))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", key, tasks
    server.shutdown()
    get_database(app).engine.dispose()


def _schemathesis(base_url: str, key: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Run in a folder of its own: schemathesis keeps an example cache in its working folder.
    return subprocess.run(
        [str(ST), "run", f"{base_url}/api/v1/openapi.json", "--checks", "all",
         "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", str(EXAMPLES),
         "--seed", "20261206", "--workers", "1", "--request-timeout", "30",
         "--header", f"Authorization: Bearer {key}", "--no-color"],
        capture_output=True, text=True, timeout=600, check=False, cwd=cwd,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "COLUMNS": "100",
             "SCHEMATHESIS_HOOKS": str(HOOKS)})


def _figure(pattern: str, text: str) -> tuple[int, ...]:
    match = re.search(pattern, text)
    assert match, (pattern, text[-3000:])
    return tuple(int(n) for n in match.groups())


def test_schemathesis_finds_nothing(live_api: tuple[str, str, list[str]],
                                    session: Session, tmp_path: Path) -> None:
    # Given the live API, its published document, a key holding every scope and real tasks
    base_url, key, tasks = live_api
    started = time.monotonic()
    # When schemathesis runs every check it has, in every phase, the stateful one included
    run = _schemathesis(base_url, key, tmp_path)
    elapsed = time.monotonic() - started
    out = run.stdout
    print(out[-2500:])  # the figures, shown with -s
    # Then it finds no failure of any class
    assert run.returncode == 0, out[-20000:] + run.stderr[-3000:]
    assert "No issues found" in out, out[-5000:]
    cases, passed = _figure(r"(\d+) generated, (\d+) passed", out)
    assert cases == passed > 0
    # And every operation was tested, and the stateful phase followed links to real tasks
    total, tested = _figure(r"Selected: \d+/(\d+)\s+Tested: (\d+)", out)
    assert tested == total >= 8
    covered, _selected = _figure(r"API Links:\s+(\d+) covered / (\d+) selected", out)
    assert covered >= 3
    # (only a link from a real task's answer can reach one: generated ids are not found)
    session.rollback()
    answered = session.scalar(select(func.count()).select_from(SarTask).where(
        SarTask.id.in_([uuid.UUID(t) for t in tasks]), SarTask.status != "open"))
    assert answered, "the stateful phase never reached a real task's routes"
    if EXAMPLES <= 12:  # the suite's bounded run stays inside a minute per engine
        assert elapsed < 60, elapsed
