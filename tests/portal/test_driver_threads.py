"""The PostgreSQL driver is set up for threaded workers."""

from __future__ import annotations

import subprocess
import sys


def test_psycopg_waits_with_poll_not_its_c_function() -> None:
    """psycopg's C wait function segfaulted gthread workers in the soak when two threads
    waited at once; importing the portal must select the pure-Python poll() wait."""
    code = ("import portal, psycopg.waiting as w; "
            "print(w.wait.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "wait_poll"
