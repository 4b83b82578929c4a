"""The house's layering: pure modules load nothing heavy, and `make lint`'s contracts hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("flask", "weasyprint", "sqlalchemy", "PIL", "pypdf", "pypdfium2", "jinja2")


@pytest.mark.parametrize("module", ["portal.errors", "portal.dates", "portal.config",
                                    "consent.engine", "sar.clock"])
def test_a_pure_module_loads_nothing_heavy(module: str) -> None:
    # Given a fresh interpreter, when only the module is imported (its packages' __init__
    # files with it), then no web framework, database layer or PDF renderer comes along.
    script = (f"import sys, {module}; "
              f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "", f"{module} loads {out.stdout.strip()}"


def test_the_layering_contracts_hold() -> None:
    """sar on consent on portal, and the kernel on no area (pyproject.toml's contracts)."""
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout
