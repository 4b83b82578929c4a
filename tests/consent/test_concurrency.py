"""Invariant 1 under load: no check that starts after a withdrawal commits ever permits."""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from typing import Any

from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from consent import operations as consent_ops
from consent.models import Notice
from portal.database import get_database
from tests.conftest import STAFF

BODY = json.dumps({"subject": {"agency_ref": "FP-DEMO-0001"}, "recipient": "victim-care",
                   "purpose": "victim-support-referral",
                   "categories": ["contact-details", "incident-report"]})


def test_no_stale_permit_after_withdrawal_commits(app: Flask, api_key: Any, demo: Any) -> None:
    # Given a real threaded server answering checks for a subject who has consented
    key = api_key("fenshire-police", "consent:check")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    port = server.server_port
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    results: list[tuple[float, str, int]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def checker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            conn.request("POST", "/api/v1/consent/check", BODY,
                         {"Authorization": f"Bearer {key}",
                          "Content-Type": "application/json"})
            response = conn.getresponse()
            body = json.loads(response.read())
            with lock:
                results.append((started, body["decision"], response.status))
        conn.close()

    threads = [threading.Thread(target=checker) for _ in range(6)]
    try:
        for t in threads:
            t.start()
        time.sleep(0.6)
        # When another thread withdraws the consent while checks are running
        sid = uuid.UUID(next(s for r, s, _ in demo.subjects if r == "FP-DEMO-0001"))
        with get_database(app).sessionmaker() as s:
            notice = s.scalar(select(Notice).where(Notice.slug == "victim-support-referral"))
            assert notice is not None
            consent_ops.withdraw(s, sid, notice.id, actor=STAFF, method="web")
            s.commit()
        committed = time.monotonic()
        time.sleep(0.8)
    finally:
        stop.set()
        for t in threads:
            t.join()
        server.shutdown()
    # Then every check that started after the commit was denied, and some before permitted
    before = [d for started, d, _ in results if started < committed]
    after = [(d, status) for started, d, status in results if started > committed]
    assert "permit" in before, "the test never saw a permit before the withdrawal"
    answered = [d for d, status in after if status == 200]
    assert len(answered) >= 5, "too few checks after the withdrawal to prove anything"
    assert all(d == "deny" for d, _ in after), after
    # A check the database could not serve in time is a 503 deny: also closed, never open.
    assert all(status in {200, 503} for _, status in after)
