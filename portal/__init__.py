"""The consent and subject-rights portal: application, identity, agencies, audit, shared UI."""

import os

# psycopg's C wait function crashed a threaded (gthread) worker with a segfault twice in the
# 10-minute soak, each time with two threads waiting on their own connections at once (the
# faulthandler trace is in docs/performance.md). The pure-Python poll() wait has no shared
# state; it must be chosen before psycopg is first imported.
os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_poll")

from portal.app import create_app  # (after the setting above)

__all__ = ["create_app"]
