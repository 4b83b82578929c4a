"""The static gates CI runs (`make lint typecheck`) keep their teeth: ruff's security rules and
mypy strict on every domain package."""

from __future__ import annotations

import tomllib
from pathlib import Path

PYPROJECT = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml")
                          .read_text())


def test_ruff_runs_the_security_rules_everywhere_but_tests() -> None:
    lint = PYPROJECT["tool"]["ruff"]["lint"]
    assert {"S", "B", "BLE"} <= set(lint["select"])
    assert not {r for r in lint.get("ignore", []) if r.startswith("S")}
    for path, ignored in lint.get("per-file-ignores", {}).items():
        if any(r.startswith("S") for r in ignored):
            assert path in {"tests/**", "bench/**"}, path


def test_mypy_is_strict_on_the_domain_packages() -> None:
    mypy = PYPROJECT["tool"]["mypy"]
    assert mypy["strict"] is True
    assert {"portal", "consent", "sar"} <= set(mypy["files"])
    for override in mypy.get("overrides", []):
        # Only third-party modules without types may be relaxed, never ours.
        assert not any(m.split(".")[0] in {"portal", "consent", "sar"}
                       for m in override["module"]), override


def test_make_test_runs_both_gates() -> None:
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    assert "test: lint typecheck pytest" in makefile
